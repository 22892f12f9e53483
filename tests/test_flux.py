"""Flux images (`survey2survey.flux`): the FITS reader's refusals, one clear line per file, and the
identity path flux -> scaling -> ensemble -> FITS -> flux keeping a galaxy's total flux."""
import gzip

import numpy as np
import pytest
from astropy.io import fits

from survey2survey.core import InputError
from survey2survey.cutouts import tan_wcs
from survey2survey.flux import (FLUX_UNIT, BadFluxFile, FluxScaling, _cube, ensemble_predict, read_flux_fits,
                                write_flux_fits)

PIX = 0.396
H = W = 48
WCS0 = tan_wcs(20.5, -0.3, (H, W), PIX)


def galaxy(total=(40.0, 80.0, 110.0), row=20.0, col=30.0, sigma_pix=3.0):
    "(H, W, 3) Gaussian galaxy in nanomaggies/arcsec² whose sum × pixel area is `total`."
    r, c = np.mgrid[:H, :W]
    g = np.exp(-((r - row)**2 + (c - col)**2)/(2*sigma_pix**2))
    return (g[..., None]/g.sum()*np.asarray(total)/PIX**2).astype(np.float32)


def band_hdu(plane, band, wcs=WCS0, bunit=FLUX_UNIT):
    "A 2-D image HDU of one band (row 0 at the top given; FITS order written)."
    h = fits.ImageHDU(np.ascontiguousarray(plane[::-1]), wcs.to_header())
    h.header["FILTER"] = band
    if bunit: h.header["BUNIT"] = bunit
    return h


def write(path, hdus):
    fits.HDUList([fits.PrimaryHDU()] + hdus).writeto(path)
    return path


def refused(path, says):
    with pytest.raises(BadFluxFile) as e: read_flux_fits(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and " -> " in msg and says in msg, msg
    assert isinstance(e.value, InputError) and e.value.path == str(path)
    return msg


def test_extensions_in_any_order_and_units_from_the_primary(tmp_path):
    g = galaxy()
    p = tmp_path/"ext.fits"
    hdus = [band_hdu(g[..., k], b, bunit=None) for k, b in ((1, "r"), (2, "i"), (0, "g"))]
    prim = fits.PrimaryHDU(); prim.header["BUNIT"] = "nanomaggy"      # per pixel, inherited by the extensions
    fits.HDUList([prim] + hdus).writeto(p)
    img = read_flux_fits(p, pixscale_arcsec=PIX)
    np.testing.assert_allclose(img.flux, g/PIX**2, rtol=1e-6)
    assert img.sigma is None and img.flags is None


def test_gzip_and_singleton_axes(tmp_path):
    g = galaxy()
    h = fits.PrimaryHDU(_cube(g, np.float32)[None], WCS0.to_header())    # (1, 3, H, W)
    h.header["BUNIT"] = FLUX_UNIT
    p = tmp_path/"cube.fits.gz"
    with gzip.open(p, "wb") as f: h.writeto(f)
    np.testing.assert_array_equal(read_flux_fits(p).flux, g)


@pytest.mark.parametrize("case, says", [
    ("other_grid", "band i is on another pixel grid"),
    ("other_shape", "different shapes"),
    ("other_units", "different BUNIT"),
    ("two_bands", "bands ['i'] missing (single-band images found: ['g', 'r'])"),
    ("no_wcs", "no celestial WCS"),
    ("numpy_order", "a cube of 48 planes"),
    ("truncated", "unreadable FITS"),
    ("not_fits", "not a FITS file"),
    ("missing", "no such file"),
    ("inf", "NaN/inf pixels (g: 0, r: 1, i: 0)"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, case, says):
    g = galaxy()
    p = tmp_path/f"{case}.fits"
    bands = [band_hdu(g[..., k], b) for k, b in enumerate("gri")]
    if case == "other_grid": bands[2] = band_hdu(g[..., 2], "i", tan_wcs(20.5 + 2/3600, -0.3, (H, W), PIX))
    elif case == "other_shape": bands[1] = band_hdu(g[:-1, :, 1], "r")
    elif case == "other_units": bands[1].header["BUNIT"] = "nanomaggy"
    elif case == "two_bands": bands = bands[:2]
    elif case == "no_wcs": bands = [fits.ImageHDU(h.data, fits.Header([("FILTER", h.header["FILTER"]), ("BUNIT", FLUX_UNIT)])) for h in bands]
    elif case == "inf": bands[1].data[3, 4] = np.inf
    if case == "numpy_order":
        h = fits.PrimaryHDU(g, WCS0.to_header()); h.header["BUNIT"] = FLUX_UNIT; h.writeto(p)
    elif case == "truncated":
        write(p, bands); p.write_bytes(p.read_bytes()[:10_000])
    elif case == "not_fits": p.write_text("<html>Service unavailable</html>")
    elif case != "missing": write(p, bands)
    refused(p, says)


def test_a_batch_reports_each_bad_file_and_reads_the_rest(tmp_path):
    g = galaxy()
    good = write_flux_fits(tmp_path/"good.fits", g, WCS0, "m", "s")
    bad = write(tmp_path/"bad.fits", [band_hdu(g[..., 0], "g", bunit="adu")])
    errors, read = {}, {}
    for p in (bad, good, tmp_path/"gone.fits"):
        try: read[p] = read_flux_fits(p)
        except InputError as e: errors[p] = str(e)
    assert list(read) == [good] and list(errors) == [bad, tmp_path/"gone.fits"]
    assert all(m.startswith(f"{p}: ") for p, m in errors.items())


@pytest.mark.parametrize("seed", range(5))
def test_scaling_round_trips_to_float32_precision(seed):
    "Random scalings and fluxes (noise to bright, negative included): the error is float32 rounding of y, Δ·√(f² + b²)·eps."
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.01, 1.0, 3)
    f = np.concatenate([rng.normal(0, sigma, (5000, 3)), rng.lognormal(0, 3, (5000, 3))*sigma]).astype(np.float32)
    sc = FluxScaling.from_data(f, sigma, k=rng.uniform(0.3, 3.0), headroom=rng.uniform(1.1, 4.0))
    b, _, span = sc._arrays()
    y = sc.forward(f)
    assert 0 < y.min() and y.max() < 1
    err = np.abs(sc.inverse(y).astype(np.float64) - f)/(span*np.sqrt(f.astype(np.float64)**2 + b**2))
    assert err.max() < 2*np.finfo(np.float32).eps, err.max()
    assert FluxScaling.from_json(sc.to_json()) == sc


def test_identity_ensemble_keeps_a_galaxys_total_flux_through_fits(tmp_path):
    "A galaxy of known total flux through scaling, an identity ensemble, the FITS writer and reader: the total to 1e-5."
    total = np.array([40.0, 80.0, 110.0])
    g = galaxy(total)
    sc = FluxScaling.from_data(g, [0.1, 0.15, 0.3])
    pred = ensemble_predict([lambda y: y, lambda y: y.copy()], g[None], sc)
    p = write_flux_fits(tmp_path/"gal.fits", pred.mean[0], WCS0, "identity", "test", sigma=pred.sigma[0])
    img = read_flux_fits(p)
    np.testing.assert_allclose(img.flux.sum((0, 1), dtype=np.float64)*PIX**2, total, rtol=1e-5)
    assert img.sigma.max() == 0
    x, y = img.wcs.world_to_pixel_values(*WCS0.pixel_to_world_values(30.0, H - 1 - 20.0))
    assert abs(x - 30) < 0.1 and abs(y - (H - 1 - 20)) < 0.1
