"""The shipped flux ensemble against the simulation's truth, head to head with the shipped RGB models.

    python benchmarks/flux_eval.py [--ensemble cae-flux-sim-v3] [--out benchmarks/flux_eval] [--train-data sim-paper-seed2026-ext0]

What `32_physics` shows from `benchmarks/flux_eval/*.csv`, remade from scratch:

1. the 538 validation pairs of the shipped models' simulation (`--train-data`: `paper` preset, seed 2026, with flux)
   copied into a dataset of their own, `flux-eval-seed2026-val` (no training rows: nothing here was seen in training;
   and translating 538 images instead of 5,538);
2. their SDSS images translated by the flux ensemble (set `cae_flux`: nanomaggies, σ, and the Lupton picture) and
   by the shipped RGB CAE and CycleGAN (sets `cae`, `cyclegan`);
3. the paper's metrics on the pictures (`evaluate`: Tables 2 and 3, quartiles), the truth-based physics of every set
   (`physics_report`; the RGB pictures through the calibration line fitted on the first 200 DES training pictures
   of `--train-data`), and the ensemble's coverage and flags (`ensemble_calibration`);
4. ΔF and ΔS (eqs. 6, 8) of every set's pictures against two DES references (`rendering.csv`): the stored DES
   pictures (what Tables 2-3 use: rendered on DES's grid, then resampled and 8-bit) and the Lupton rendering of DES's
   calibrated images on the SDSS grid (`translate.flux_picture`, the rendering the flux models' outputs go through),
   so that the rendering path's own share of a flux model's ΔF and ΔS is seen;
5. the ellipticity of every set corrected for the PSF (`shapes.csv`: `physics.measure`/`measure_flux` with
   `psf_fwhm_arcsec`, GalSim's re-Gaussianization against each image's Moffat PSF — SDSS's for the SDSS input, DES's
   for DES and for every translation, which claims DES's PSF), beside the observed ellipticity without a calibration
   line: whether a set's shapes are closer to the truth once the PSF is accounted for, the same way for every set;
   the translations also corrected for a PSF halfway between the surveys' (psf `halfway`: the rms of the two FWHMs),
   the PSF of an output that sharpens SDSS's only partway;
6. the PSF each set of calibrated images actually has, measured on the isolated field stars (`stars.csv`: r 17-20.5,
   more than 25 px from the target and 10 px from any other source; GalSim's adaptive σ of the r band in a 17×17 stamp),
   beside the σ of the surveys' Moffat PSFs.

Resumable: every step skips what a previous run finished. Writes the CSVs into `--out`.
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

import numpy as np   # noqa: E402
import pandas as pd   # noqa: E402

from survey2survey.core import resolve_path   # noqa: E402
from survey2survey.evaluate import delta_table, evaluate, paper_table, quartiles   # noqa: E402
from survey2survey.metrics import beta, flux_mag, mean_relative_difference, snr   # noqa: E402
from survey2survey.physics import (dataset_calibration, ensemble_calibration, measure, measure_flux, nmad, physics_report,   # noqa: E402
                                   truth_table)
from survey2survey.shipped import DEFAULT   # noqa: E402
from survey2survey.store import copy_rows, open_store   # noqa: E402
from survey2survey.translate import flux_picture, set_name, translate, model_info   # noqa: E402


def rendering(ds, sets) -> pd.DataFrame:
    "ΔF × 10³ and ΔS (mean ± std, as Tables 2-3: `mean_relative_difference(reference, set)`) of each set's pictures against both DES references."
    pairs = open_store(ds/"pairs")
    rows = pairs.indices("val")
    quantities = lambda pics: (flux_mag(b := beta(pics)), snr(b))   # F and S of each picture
    refs = {"stored DES picture": quantities(pairs.read("des", rows)), "Lupton of des_flux": quantities(flux_picture(pairs.read("des_flux", rows)))}
    out = []
    for s in sets:
        f, sn = quantities(open_store(ds/f"{s}-pairs").read(s, rows))
        for ref, (f_ref, sn_ref) in refs.items():
            df, dsn = mean_relative_difference(f_ref, f), mean_relative_difference(sn_ref, sn)
            out.append(dict(set=s, reference=ref, n=df["n"], delta_flux_1e3=df["mean"]*1e3, delta_flux_1e3_std=df["std"]*1e3,
                            delta_snr=dsn["mean"], delta_snr_std=dsn["std"]))
    return pd.DataFrame(out)


def flux_sets(ds, sets) -> dict:
    "The calibrated images of the validation rows: `{set: (whose PSF it has, images)}` for SDSS, DES and each flux model in `sets`."
    pairs = open_store(ds/"pairs")
    rows = pairs.indices("val")
    return {"sdss-flux": ("sdss", pairs.read("sdss_flux", rows)), "des-flux": ("des", pairs.read("des_flux", rows)),
            **{s: ("des", open_store(ds/f"{s}-pairs").read(f"{s}_nmgy", rows)) for s in sets if s.endswith("_flux")}}


def shapes(ds, sets, fluxes=None, truth=None) -> pd.DataFrame:
    "Observed and PSF-corrected ellipticity of every set against the truth: n, bias, NMAD, median |error|, Spearman ρ (`fluxes`: `flux_sets`, `truth`: `truth_table` of the validation rows, if already at hand)."
    from scipy.stats import spearmanr
    pairs = open_store(ds/"pairs")
    rows = pairs.indices("val")
    cat, truth = pairs.catalogue.iloc[rows], (truth_table(pairs, rows) if truth is None else truth)["ellipticity"].to_numpy()
    fwhm = {sv: cat[f"{sv}_psf_fwhm_r_arcsec"].to_numpy(float) for sv in ("sdss", "des")}
    pictures = {"sdss": ("sdss", pairs.read("sdss", rows)), "des": ("des", pairs.read("des", rows)),
                **{s: ("des", open_store(ds/f"{s}-pairs").read(s, rows)) for s in sets if not s.endswith("_flux")}}
    fluxes = flux_sets(ds, sets) if fluxes is None else fluxes
    fwhm["halfway"] = np.sqrt((fwhm["sdss"]**2 + fwhm["des"]**2)/2)   # a translation that sharpens SDSS's PSF only partway
    out = []
    def row(name, psf, what, e):
        ok = np.isfinite(e) & np.isfinite(truth); r = e[ok] - truth[ok]
        out.append(dict(set=name, psf=psf, measure=what, n=int(ok.sum()), bias=float(np.median(r)), nmad=nmad(r),
                        mad_true=float(np.median(np.abs(r))), spearman=float(spearmanr(e[ok], truth[ok]).statistic)))
    for group, how in ((pictures, measure), (fluxes, measure_flux)):
        for name, (psf, images) in group.items():
            m = how(images, psf_fwhm_arcsec=fwhm[psf], psf_survey=psf)
            row(name, psf, "observed", m["ellipticity"].to_numpy(float)); row(name, psf, "PSF-corrected", m["ellipticity_psf"].to_numpy(float))
            if name not in ("sdss", "des", "sdss-flux", "des-flux"):   # the translations: also for a PSF halfway between the surveys'
                row(name, "halfway", "PSF-corrected", how(images, psf_fwhm_arcsec=fwhm["halfway"], psf_survey="des")["ellipticity_psf"].to_numpy(float))
    return pd.DataFrame(out)


def star_psf(ds, sets, fluxes=None) -> pd.DataFrame:
    "Adaptive σ (arcsec, r band) of the isolated field stars in each set of calibrated images (`fluxes`: `flux_sets`, if at hand), and of the surveys' PSFs."
    import galsim
    from survey2survey.physics import CENTRE_PIX, PIXSCALE_ARCSEC, neighbour_table, psf_image
    from survey2survey.surveys import OUTPUT_SIZE
    pairs = open_store(ds/"pairs")
    rows = pairs.indices("val")
    nt = neighbour_table(pairs, rows)
    near = lambda r: (np.hypot(nt.x_pix[nt.row == r.row] - r.x_pix, nt.y_pix[nt.row == r.row] - r.y_pix) < 10).sum()
    st = nt[(nt.kind == "star") & nt.mag_r.between(17, 20.5) & (np.hypot(nt.x_pix - CENTRE_PIX, nt.y_pix - CENTRE_PIX) > 25)]
    inside = lambda v: 8 <= round(v) < OUTPUT_SIZE - 8   # a whole 17×17 stamp
    st = st[[near(r) == 1 and inside(r.x_pix) and inside(r.y_pix) for r in st.itertuples()]]
    images = {name: a for name, (_, a) in (flux_sets(ds, sets) if fluxes is None else fluxes).items()}
    at = {int(r): k for k, r in enumerate(rows)}
    def sigma(stamp):
        m = galsim.hsm.FindAdaptiveMom(galsim.Image(np.ascontiguousarray(stamp, np.float64)), strict=False)
        return m.moments_sigma*PIXSCALE_ARCSEC if m.moments_status == 0 else np.nan
    sig = pd.DataFrame({name: [sigma(a[at[int(r.row)], round(r.y_pix) - 8:round(r.y_pix) + 9, round(r.x_pix) - 8:round(r.x_pix) + 9, 1])
                               for r in st.itertuples()] for name, a in images.items()}).dropna()
    cat = pairs.catalogue.iloc[rows]
    out = [dict(set=name, n_stars=len(sig), median_sigma_arcsec=float(sig[name].median())) for name in images]
    out += [dict(set=f"{sv} PSF (Moffat)", n_stars=0, median_sigma_arcsec=float(np.median([sigma(psf_image(f, sv).array[12:29, 12:29])
             for f in cat[f"{sv}_psf_fwhm_r_arcsec"]]))) for sv in ("sdss", "des")]
    return pd.DataFrame(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ensemble", default="cae-flux-sim-v3", help="the flux model or ensemble (a shipped name or a folder)")
    ap.add_argument("--rgb", nargs="*", default=[DEFAULT["cae"], DEFAULT["cyclegan"]], help="RGB models beside it (shipped names or run folders)")
    ap.add_argument("--dataset", default="flux-eval-seed2026-val", help="the validation-only dataset (made if missing)")
    ap.add_argument("--train-data", default="sim-paper-seed2026-ext0", help="the training dataset: its first 200 DES training pictures calibrate the RGB pictures")
    ap.add_argument("--out", default=str(Path(__file__).parent/"flux_eval"), help="folder of the CSVs")
    a = ap.parse_args()
    ds = resolve_path(a.dataset)
    src = open_store(resolve_path(a.train_data)/"pairs")
    copy_rows(src, src.indices("val"), ds/"pairs", attrs={"subset": "val"})
    for m in (a.ensemble, *a.rgb): translate(m, ds/"pairs")
    ev = evaluate(ds, splits=("val",), bootstrap=0)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    deltas = delta_table(ev.pairs)
    for n in (2, 3): paper_table(deltas, n).to_csv(out/f"table{n}.csv")
    quartiles(ev.images, ev.pairs).to_csv(out/"quartiles.csv", index=False)
    rep = physics_report(ds, models=("cae", "cyclegan"), flux_models=("cae_flux",), figures=False,
                         calibration=dataset_calibration(resolve_path(a.train_data)/"pairs"))
    for k in ("preservation", "closer", "artifacts", "neighbours"): rep[k].to_csv(out/f"{k}.csv", index=False)
    cal = ensemble_calibration(ds, "cae_flux")
    cal["table"].to_csv(out/"coverage.csv", index=False)
    cal["flags"].to_csv(out/"flags.csv", index=False)
    c = cal["coverage"]["all"]
    pd.DataFrame(dict(nominal=c.nominal, observed=c.observed)).to_csv(out/"reliability.csv", index=False)
    sets = [set_name(model_info(m)) for m in (a.ensemble, *a.rgb)]
    fluxes = flux_sets(ds, sets)   # read once for both
    for name, table in (("rendering", rendering(ds, sets)), ("shapes", shapes(ds, sets, fluxes, rep["truth"])),
                        ("stars", star_psf(ds, sets, fluxes))):
        table.to_csv(out/f"{name}.csv", index=False)
        print(table.round(4).to_string(index=False))
    p = rep["preservation"]
    print(p[p.set.isin(["sdss-flux", "des-flux", "cae_flux", "cae", "cyclegan"])].pivot(index="quantity", columns="set", values="bias").round(3).to_string())
    print(cal["table"].round(3).to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
