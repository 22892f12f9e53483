"""The offline smoke fetch killed and resumed in a subprocess, and run from the console script (with SDSS JPEGs, and with FITS bands)."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from survey2survey.store import open_store

HERE = Path(__file__).parent
EXE = shutil.which("survey2survey") or os.path.join(os.path.dirname(sys.executable), "survey2survey")


def run(out, *args):
    return subprocess.run([sys.executable, str(HERE/"fetch_runner.py"), str(out), *map(str, args)], capture_output=True, text=True)


def cached_keys(out):
    return {p.name.split(".")[0] for p in (Path(out)/"_fetch"/"cutouts").rglob("*.*") if p.is_file() and not p.name.startswith(".")}


def lines(path):
    return Path(path).read_text().split() if Path(path).exists() else []


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    "The smoke dataset built offline by the console script, as a user would: the reference the killed runs must equal."
    root = tmp_path_factory.mktemp("ref")
    r = subprocess.run([EXE, "--data-root", str(root), "fetch", "--preset", "smoke", "--offline-fixtures", "--out", "real-smoke"],
                       capture_output=True, text=True, env={**os.environ, "SURVEY2SURVEY_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr
    return root/"real-smoke", r


@pytest.fixture(scope="module")
def reference(console):
    return console[0]


def same_dataset(a, b):
    for name in ("pairs", "external"):
        sa, sb = open_store(Path(a)/name, deep=True), open_store(Path(b)/name, deep=True)
        pd.testing.assert_frame_equal(sa.catalogue, sb.catalogue)
        for arr in sa.arrays: np.testing.assert_array_equal(sa.read(arr, slice(None)), sb.read(arr, slice(None)))


def test_killed_while_downloading_resumes_without_refetching(tmp_path, reference):
    out = tmp_path/"smoke"
    r = run(out, "--die-after-requests", 9, "--calls", tmp_path/"calls1")
    assert r.returncode == -signal.SIGKILL, r.stderr
    first, cached = lines(tmp_path/"calls1"), cached_keys(out)
    assert len(first) == 9 and len(cached) >= 4
    r = run(out, "--calls", tmp_path/"calls2")
    assert r.returncode == 0, r.stderr
    second = lines(tmp_path/"calls2")
    assert not set(second) & cached, "a cutout cached before the kill was fetched again"
    assert not set(second) & set(first[:3]), "a finished catalogue tile was queried again"
    same_dataset(out, reference)


def test_killed_while_writing_the_store_resumes_without_any_request(tmp_path, reference):
    out = tmp_path/"smoke"
    r = run(out, "--die-at-chunk", 1)
    assert r.returncode == -signal.SIGKILL, r.stderr
    s = open_store(out/"pairs", allow_incomplete=True)
    assert not s.complete
    r = run(out, "--calls", tmp_path/"calls2")
    assert r.returncode == 0, r.stderr
    assert lines(tmp_path/"calls2") == []
    same_dataset(out, reference)


def test_console_script_builds_the_smoke_dataset_offline(console):
    "(The killed runs above, through the replayed transport in-process, resume to this very dataset.)"
    out, r = console
    assert "stored 5" in r.stdout and "stored 3" in r.stdout
    assert [open_store(out/name, deep=True).n for name in ("pairs", "external")] == [5, 3]


def test_console_script_fetches_calibrated_bands_from_fits_sources(tmp_path):
    "`--source sdss=sdss-hips2fits`: both sources give FITS bands, so the stores get the flux arrays, their σ and WCS columns."
    r = subprocess.run([EXE, "--data-root", str(tmp_path), "fetch", "--preset", "smoke", "--offline-fixtures", "--out", "fits",
                        "--source", "sdss=sdss-hips2fits"], capture_output=True, text=True, env={**os.environ, "SURVEY2SURVEY_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr
    assert "flux: pairs sdss_flux, des_flux; external sdss_flux in nanomaggy / arcsec2" in r.stdout
    pairs, ext = (open_store(tmp_path/"fits"/name, deep=True) for name in ("pairs", "external"))
    assert pairs.arrays == ("sdss", "des", "sdss_flux", "des_flux") and ext.arrays == ("sdss", "sdss_flux")
    assert pairs.units == {"sdss_flux": "nanomaggy / arcsec2", "des_flux": "nanomaggy / arcsec2"}
    assert {"wcs", "sdss_sigma_g", "des_sigma_i"} <= set(pairs.catalogue.columns) and {"wcs", "sdss_sigma_r"} <= set(ext.catalogue.columns)


@pytest.mark.net
def test_live_smoke_fetch(tmp_path):
    "The smoke preset against the live services (run with --flags net)."
    from survey2survey.fetch import fetch
    res = fetch("smoke", out=tmp_path/"live-smoke")
    assert res.report["catalogues"]["sdss_stripe82"] > 0 and res.report["catalogues"]["des"] > 0
    for name in ("pairs", "external"):
        if (res.root/name).exists(): open_store(res.root/name, deep=True)


@pytest.mark.net
def test_live_smoke_fetch_with_calibrated_bands(tmp_path):
    "The smoke preset with SDSS FITS bands from the live hips2fits (run with --flags net): flux arrays with finite σ."
    from survey2survey.fetch import fetch
    res = fetch("smoke", out=tmp_path/"live-smoke-fits", sdss_source="sdss-hips2fits")
    assert res.report["flux"]["arrays"]["pairs"] == ["sdss_flux", "des_flux"]
    if (res.root/"pairs").exists():
        s = open_store(res.root/"pairs", deep=True)
        assert "des_flux" in s and np.isfinite(s.catalogue[["sdss_sigma_r", "des_sigma_r"]].to_numpy()).all()
