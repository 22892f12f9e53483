"""The simulation's promises that need several processes or a whole preset: the same bytes whatever the
number of worker processes, resuming after a kill, and (slow) the `paper` preset's calibration."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from survey2survey.core import IncompleteStoreError
from survey2survey.calibration import validation_metrics, within_paper
from survey2survey.render import FLUX_UNIT
from survey2survey.scene import preset_config, simulate_one
from survey2survey.simulate import simulate
from survey2survey.store import MANIFEST, WCS_COLUMN, drop_arrays, image_wcs, open_store
from survey2survey.surveys import BANDS
from test_store import tree_bytes

HERE = Path(__file__).parent
EXE = shutil.which("survey2survey") or os.path.join(os.path.dirname(sys.executable), "survey2survey")
SIZES = dict(n_train=16, n_val=8, n_external=8)  # 3 + 1 chunks of 8


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "A small dataset written by one process in one uninterrupted run."
    return simulate("smoke", seed=5, out=tmp_path_factory.mktemp("ref")/"sim", processes=1, **SIZES)


def test_reference_is_valid_and_seeded(reference):
    pairs = open_store(reference/"pairs", deep=True)
    assert (len(pairs.indices("train")), len(pairs.indices("val"))) == (16, 8)
    assert pairs.attrs["seed"] == 5 and pairs.attrs["preset"] == "smoke"
    images, row = simulate_one(preset_config("smoke", **SIZES), 5, "pairs", 20)
    np.testing.assert_array_equal(pairs.read("des", 20), images["des"])
    assert pairs.catalogue.loc[20, "z"] == row["z"]
    other, _ = simulate_one(preset_config("smoke", **SIZES), 6, "pairs", 20)
    assert not np.array_equal(other["des"], images["des"])


def test_same_bytes_whatever_the_number_of_processes(tmp_path):
    small = dict(n_train=16, n_val=8, n_external=0)   # 3 chunks, one pool of workers
    one = simulate("smoke", seed=5, out=tmp_path/"one", processes=1, **small)
    two = simulate("smoke", seed=5, out=tmp_path/"two", processes=2, **small)
    assert tree_bytes(one) == tree_bytes(two)


def test_sigkill_then_resume_gives_the_same_bytes(reference, tmp_path):
    args = ["--data-root", str(tmp_path), "-q", "simulate", "--preset", "smoke", "--seed", "5", "--out", "sim", "--processes", "1",
            *(f"--n-{k[2:]}={v}" for k, v in SIZES.items())]
    # SIGKILLed just before the 2nd chunk of the pairs store is recorded (its images are written, its record is not)
    killed = subprocess.run([sys.executable, str(HERE/"die_runner.py"), "2", *args], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    with pytest.raises(IncompleteStoreError, match="incomplete: 1 of 3 chunks written"):
        open_store(tmp_path/"sim"/"pairs")
    r = subprocess.run([EXE, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert tree_bytes(tmp_path/"sim") == tree_bytes(reference)


def test_overwrite_replaces_another_seed(reference, tmp_path):
    root = tmp_path/"sim"
    shutil.copytree(reference, root)
    r = subprocess.run([EXE, "--data-root", str(tmp_path), "-q", "simulate", "--preset", "smoke", "--seed", "6", "--out", "sim",
                        "--processes", "1", "--n-external", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "holds another simulation" in r.stderr and "--overwrite" in r.stderr
    assert (root/"pairs"/MANIFEST).read_bytes() == (reference/"pairs"/MANIFEST).read_bytes()
    r = subprocess.run([EXE, "--data-root", str(tmp_path), "-q", "simulate", "--preset", "smoke", "--seed", "6", "--out", "sim",
                        "--processes", "1", "--n-external", "0", "--overwrite"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert open_store(root/"pairs").attrs["seed"] == 6
    assert not (root/"external").exists()          # the replaced dataset's external store does not linger


def test_flux_arrays_sigma_and_wcs(reference):
    pairs, external = open_store(reference/"pairs"), open_store(reference/"external")
    assert pairs.arrays == ("sdss", "des", "sdss_flux", "des_flux") and external.arrays == ("sdss", "sdss_flux")
    assert pairs.units == {"sdss_flux": FLUX_UNIT, "des_flux": FLUX_UNIT} and external.units == {"sdss_flux": FLUX_UNIT}
    images, row = simulate_one(preset_config("smoke", **SIZES), 5, "external", 3)
    np.testing.assert_array_equal(external.read("sdss_flux", 3), images["sdss_flux"])
    for store, surveys in ((pairs, ("sdss", "des")), (external, ("sdss",))):
        cat = store.catalogue
        for sv in surveys:
            sigma = cat[[f"{sv}_sigma_{b}" for b in BANDS]].to_numpy()
            assert (sigma > 0).all() and np.isfinite(sigma).all()
        xy = np.array([image_wcs(r).world_to_pixel_values(r["ra"], r["dec"]) for _, r in cat.iterrows()])
        np.testing.assert_allclose(xy, 74.5, atol=0.1)
    # DES is about 10x deeper per SDSS pixel (sky-limited co-add of 10 exposures, 2.3 pixels averaged)
    ratio = pairs.catalogue["des_sigma_r"]/pairs.catalogue["sdss_sigma_r"]
    assert (ratio > 0.03).all() and (ratio < 0.2).all(), ratio.describe()


def test_store_without_flux_arrays_stays_valid(reference, tmp_path):
    "A dataset written before the flux arrays existed: opens, validates, feeds training, gets the WCS of its ra/dec, and is kept by simulate."
    from survey2survey.loader import PairDataset   # imports Keras: only here
    old = tmp_path/"old"
    shutil.copytree(reference, old)
    for name, arrays in (("pairs", ["sdss_flux", "des_flux"]), ("external", ["sdss_flux"])):
        drop_arrays(old/name, arrays)
        cat = pd.read_parquet(old/name/"catalogue.parquet")
        cat.drop(columns=[WCS_COLUMN, *(c for c in cat.columns if "_sigma_" in c)]).to_parquet(old/name/"catalogue.parquet", index=False)
    before = tree_bytes(old)
    a, b = open_store(old/"pairs", deep=True), open_store(reference/"pairs")
    assert a.arrays == ("sdss", "des") and a.units == {}
    x_old, y_old = PairDataset(a, batch_size=8, seed=1)[1]
    x_new, y_new = PairDataset(b, batch_size=8, seed=1)[1]
    np.testing.assert_array_equal(x_old, x_new); np.testing.assert_array_equal(y_old, y_new)
    r_old, r_new = a.catalogue.iloc[7], b.catalogue.iloc[7]
    assert WCS_COLUMN not in r_old and WCS_COLUMN in r_new
    np.testing.assert_allclose(image_wcs(r_old).wcs.cd, image_wcs(r_new).wcs.cd)
    np.testing.assert_allclose(image_wcs(r_old).wcs.crval, image_wcs(r_new).wcs.crval)
    simulate("smoke", seed=5, out=old, processes=1, **SIZES)
    assert tree_bytes(old) == before


@pytest.mark.slow
def test_paper_validation_matches_the_paper():
    "The issue's target: DES vs SDSS on the paper preset's validation split, inside the paper's 1 sigma."
    d = validation_metrics(preset_config("paper"), seed=0)
    print(f"paper val: dF x1e3 = {1e3*d['dF']:.2f} +- {1e3*d['dF_std']:.2f}, dS = {d['dS']:.3f} +- {d['dS_std']:.3f}")
    assert within_paper(d)
