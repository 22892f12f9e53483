"""The models shipped inside the package (`survey2survey.shipped`): size budget, and that they translate.

`test_shipped_beat_sdss` loads each shipped model in a fresh process and applies it to 32 freshly
simulated validation galaxies of seed 11 (the shipped models trained on seed 2026: other galaxies),
with the `paper` preset's encodings (SDSS JPEG, DES 8-bit) they were trained on: its outputs must be
closer to DES than the SDSS input is, on median MSSIM and on the pseudo-flux magnitude F. An untrained
network, or one trained for seconds, fails it. Without shipped weights it fails, saying how to make them.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from survey2survey.metrics import beta, flux_mag, ssim_decomposition
from survey2survey.shipped import ENSEMBLES, BUDGET_MB, SHIPPED, SHIPPED_DIR, is_shipped, shipped_info

HOW = ("export them from finished training runs: python tools/ship_models.py RUN (or RUN --export-only) "
       "(survey2survey.shipped.export_model; see nbs/12_shipped.ipynb)")


def _require(name):
    if not is_shipped(name): pytest.fail(f"no shipped weights for {name} in {SHIPPED_DIR/name}: {HOW}")


def test_shipped_fit_the_budget():
    for name in SHIPPED: _require(name)
    total = sum(p.stat().st_size for p in SHIPPED_DIR.rglob("*") if p.is_file())
    assert total <= BUDGET_MB*1e6, f"{SHIPPED_DIR} holds {total/1e6:.2f} MB, over the {BUDGET_MB} MB budget"
    for name in SHIPPED:
        meta, card = shipped_info(name), json.loads((SHIPPED_DIR/name/"card.json").read_text())
        assert meta["model"] == card["model"] == SHIPPED[name]["model"], name
        assert card["check"]["max_abs_diff"] <= card["check"]["tolerance"] <= 1e-3, card["check"]
        assert "not on real" in card["limitation"] and card["retrain"], card


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    "32 validation pairs of simulation seed 11, the paper preset's encodings: (sdss, des, folder)."
    from survey2survey.simulate import simulate
    from survey2survey.store import open_store
    folder = tmp_path_factory.mktemp("unseen")
    simulate("paper", seed=11, out=folder/"sim", n_train=0, n_val=32, n_external=0, processes=1)
    pairs = open_store(folder/"sim"/"pairs")
    assert list(pairs.catalogue.split.unique()) == ["val"] and pairs.n == 32
    sdss, des = pairs.read("sdss", slice(None)), pairs.read("des", slice(None))
    np.save(folder/"sdss.npy", sdss)
    return sdss, des, folder


@pytest.mark.parametrize("name", [n for n, s in SHIPPED.items() if s["preset"] != "flux"])
def test_shipped_beat_sdss(name, unseen):
    _require(name)
    sdss, des, folder = unseen
    assert shipped_info(name)["data"]["seed"] != 11, "the check galaxies must not be the model's training galaxies"
    code = ("import numpy as np\nfrom survey2survey.shipped import load_shipped\nfrom survey2survey.train import predict\n"
            f"net, _ = load_shipped({name!r})\n"
            f"np.save({str(folder/(name + '.npy'))!r}, predict(net, np.load({str(folder/'sdss.npy')!r}), 8))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = np.load(folder/f"{name}.npy")
    assert out.shape == sdss.shape and np.isfinite(out).all()
    b_sdss, b_des, b_out = beta(sdss), beta(des), beta(out)
    mssim_sdss = np.median(ssim_decomposition(b_sdss, b_des)["mssim"])
    mssim_out = np.median(ssim_decomposition(b_out, b_des)["mssim"])
    f_des = flux_mag(b_des)
    df_sdss = np.nanmedian(np.abs(flux_mag(b_sdss) - f_des))
    df_out = np.nanmedian(np.abs(flux_mag(b_out) - f_des))
    msg = f"{name}: median MSSIM against DES {mssim_out:.3f} (SDSS input {mssim_sdss:.3f}); median |F - F_DES| {df_out:.3f} (SDSS {df_sdss:.3f})"
    assert mssim_out > mssim_sdss, msg
    assert df_out < df_sdss, msg


@pytest.mark.parametrize("name", list(ENSEMBLES))
def test_shipped_flux_ensemble_beats_sdss(name, unseen):
    """On unseen galaxies, the shipped flux ensemble's photometry is closer to DES than the SDSS input's in every band (median
    |Δmag| of a 10-pixel aperture at the centre), so are its pixels there (MSE in nanomaggies), it denoises the sky (per band,
    the median over galaxies of the pixels' standard deviation beyond 55 px from the centre is under half the SDSS input's),
    and its σ is positive. An untrained residual CAE is the identity: it fails, as does any network that moves fluxes away
    from DES, and so did `cae-flux-sim-v2`, whose sky was 1.1-1.25× as noisy as its input."""
    for m in ENSEMBLES[name]: _require(m)
    from survey2survey.store import open_store
    folder = unseen[2]
    pairs = open_store(folder/"sim"/"pairs")
    np.save(folder/"sdss_flux.npy", pairs.read("sdss_flux", slice(None)))
    code = ("import numpy as np\nfrom survey2survey.translate import load_model\nfrom survey2survey.images import FluxTranslator\n"
            f"tr = FluxTranslator(*load_model({name!r}))\n"
            f"mean, sigma = tr(np.load({str(folder/'sdss_flux.npy')!r}), 8)\n"
            f"np.save({str(folder/(name + '-mean.npy'))!r}, mean); np.save({str(folder/(name + '-sigma.npy'))!r}, sigma)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    des, sdss = pairs.read("des_flux", slice(None)), pairs.read("sdss_flux", slice(None))
    mean, sigma = np.load(folder/f"{name}-mean.npy"), np.load(folder/f"{name}-sigma.npy")
    assert mean.shape == des.shape and np.isfinite(mean).all() and (sigma > 0).all()
    yy, xx = np.mgrid[:des.shape[1], :des.shape[2]] - (np.array(des.shape[1:3])[:, None, None] - 1)/2
    ap = xx**2 + yy**2 <= 10**2
    mag = lambda a: -2.5*np.log10(np.clip(a[:, ap].sum(1), 1e-3, None))   # (galaxies, bands)
    d_out, d_sdss = (np.median(np.abs(mag(a) - mag(des)), axis=0) for a in (mean, sdss))
    assert (d_out < d_sdss).all(), f"{name}: median |Δmag| against DES per band {d_out.round(3)}, SDSS input {d_sdss.round(3)}"
    mse = lambda a: float(np.mean((a[:, ap] - des[:, ap])**2))
    assert mse(mean) < mse(sdss), f"{name}: MSE against DES in the aperture {mse(mean):.3g} nanomaggies², SDSS input {mse(sdss):.3g}"
    sky = xx**2 + yy**2 > 55**2
    noise = lambda a: np.median(a[:, sky].std(axis=1), axis=0)   # per band
    assert (noise(mean) < 0.5*noise(sdss)).all(), f"{name}: sky noise per band {noise(mean).round(4)}, SDSS input {noise(sdss).round(4)}"
