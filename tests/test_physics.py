"""Fast checks of survey2survey.physics and the MSE/PSNR pair measure, without a simulated dataset."""
import numpy as np
import pandas as pd
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

from survey2survey.evaluate import PAIR_MEASURES, mse_psnr
from survey2survey.physics import artifact_removal, artifact_summary, linearise, nmad


def test_mse_psnr_match_skimage():
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 30, 30)), rng.random((5, 30, 30))
    m = mse_psnr(a, b)
    np.testing.assert_allclose(m["mse"], [mean_squared_error(x, y) for x, y in zip(a, b)], rtol=1e-12)
    np.testing.assert_allclose(m["psnr"], [peak_signal_noise_ratio(y, x, data_range=1) for x, y in zip(a, b)], rtol=1e-12)
    assert np.isinf(mse_psnr(a, a)["psnr"]).all() and "mse_psnr" in PAIR_MEASURES


def test_artifact_removal_is_0_for_sdss_and_1_for_des():
    rng = np.random.default_rng(2)
    des = rng.random((1, 150, 150, 3)).astype(np.float32)*0.2
    sdss = des*0.7
    sdss[0, 70:73, :, 1] = 0.9                                   # a horizontal trail through row 71
    row = dict(id=0, sdss_trail=True, sdss_trail_x0=-0.5, sdss_trail_y0=71.0, sdss_trail_x1=149.5, sdss_trail_y1=71.0,
               sdss_trail_fwhm_pix=2.0, sdss_cosmic=False, sdss_bleed=False, sdss_partial=False)
    r = artifact_removal(dict(sdss=sdss, des=des, blank=np.zeros_like(des)), pd.DataFrame([row])).set_index("set")
    assert r.loc["sdss", "removal"] == 0.0 and r.loc["des", "removal"] == 1.0 and r.loc["blank", "removal"] == 1.0
    s = artifact_summary(r.reset_index()).query("kind == 'all'").set_index("set")["removed_frac"]
    assert s.to_dict() == dict(sdss=0.0, des=1.0, blank=1.0)


def test_linearise_black_is_zero_and_nmad_is_sigma():
    i, bands = linearise(np.zeros((2, 5, 5, 3), np.float32))
    assert (i == 0).all() and (bands == 0).all()
    assert abs(nmad(np.random.default_rng(3).normal(0, 2.0, 200_000)) - 2.0) < 0.02
