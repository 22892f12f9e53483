"""How the weight of FluxMSE's total-flux term changes what a flux member learns in its first 300 steps.

    python benchmarks/flux_weight.py [--data sim-paper-seed2026-ext0] [--weights 0 0.001 0.01 0.1] [--out benchmarks/flux_weight.csv]

Each weight `w` trains the `flux` preset with `optimizer=dict(flux_weight=w)` from the same seed on the same 2,400
training pairs for 2 epochs (300 steps of 16 crops; the cosine decay runs over those 300), then translates the first
100 validation galaxies and measures, against the simulation's truth (`physics.measure_flux`, `truth_table`):
median measured − true magnitude per band and log half-light radius, and the sky noise (median over galaxies of
the pixel standard deviation beyond 55 px from the centre) relative to DES's. The SDSS input and DES are measured
the same way. Validation loss per epoch is the run's own (`history.csv`, in the network's units; FluxMSE includes its
flux term, so compare `val_mse`, the pixel term alone, across weights).

Why: with `w = 0.1` (the `flux` preset of `cae-flux-sim-v2`) the flux term's gradient, concentrated on the bright
pixels, sets Adam's per-weight step sizes, and the pixel term (the denoising) barely moves. Runs are kept in
`--work` and reused by a rerun. Writes one CSV row per weight (and the two surveys).
"""
import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

import numpy as np   # noqa: E402
import pandas as pd   # noqa: E402

from survey2survey.core import data_root, resolve_path   # noqa: E402
from survey2survey.flux import FluxScaling   # noqa: E402
from survey2survey.physics import measure_flux, truth_table   # noqa: E402
from survey2survey.store import open_store   # noqa: E402
from survey2survey.train import predict, train   # noqa: E402
from survey2survey.translate import load_model   # noqa: E402


def sky_noise(f, sky):
    "Per band, the median over images of the pixels' standard deviation in `sky`."
    return np.median(f[:, sky].std(axis=1), axis=0)


def measure(f, truth, sky, des_noise):
    "Median measured − true per quantity, and the sky noise per band relative to DES's."
    m = measure_flux(f)
    row = {f"bias_mag_{b}": float(np.nanmedian(m[f"mag_{b}"] - truth[f"mag_{b}"])) for b in "gri"}
    row["bias_log_hlr"] = float(np.nanmedian(m.log_hlr - truth.log_hlr))
    row.update({f"sky_noise_{b}": float(v) for b, v in zip("gri", sky_noise(f, sky)/des_noise)})
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="sim-paper-seed2026-ext0", help="a paper-preset simulation with flux arrays")
    ap.add_argument("--weights", nargs="+", type=float, default=[0, 0.001, 0.01, 0.1], help="flux_weight values")
    ap.add_argument("--n-val", type=int, default=100, help="validation galaxies measured")
    ap.add_argument("--work", default=None, help="run folders (default <data root>/bench/flux_weight)")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".csv")))
    a = ap.parse_args()
    work = Path(a.work) if a.work else data_root()/"bench"/"flux_weight"
    st = open_store(resolve_path(a.data)/"pairs")
    rows = st.indices("val")[:a.n_val]
    sdss, des, truth = st.read("sdss_flux", rows), st.read("des_flux", rows), truth_table(st, rows)
    yy, xx = np.mgrid[:sdss.shape[1], :sdss.shape[2]] - (sdss.shape[1] - 1)/2
    sky = np.hypot(yy, xx) > 55
    des_noise = sky_noise(des, sky)
    out = [dict(set="sdss", **measure(sdss, truth, sky, des_noise)), dict(set="des", **measure(des, truth, sky, des_noise))]
    for w in a.weights:
        run = work/f"w{w:g}"
        train("cae", "flux", data=a.data, out=run, epochs=2, limit_train=2400, seed=0, optimizer=dict(flux_weight=w))
        net, meta = load_model(run)
        sc_in, sc_out = (FluxScaling.from_json(meta[k]["scaling"]) for k in ("input", "output"))
        x, y = sc_in.forward(sdss, clip=True), sc_out.forward(des, clip=True)
        f = sc_out.inverse(np.asarray(predict(net, x, batch_size=16), np.float32))
        h = pd.read_csv(run/"history.csv")
        out.append(dict(set=f"flux_weight={w:g}", **measure(f, truth, sky, des_noise), steps=300, val_loss=float(h.val_loss.iloc[-1]),
                        val_mse=float(np.mean((sc_out.forward(f, clip=True) - y)**2))))
        print(json.dumps(out[-1]), flush=True)
    pd.DataFrame(out).to_csv(a.out, index=False)
    print(pd.DataFrame(out).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
