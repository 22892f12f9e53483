"""`tools/ship_models.py`, the one tool that measures finished runs on held-out galaxies and exports them as shipped models.

A CAE trained for two epochs on a toy dataset (Gaussian blobs, 150×150 as the simulated held-out sets) is exported
into a temporary root, never the package's: with given metrics and wall time (`--export-only`), and, flagged `slow`
(it simulates 2 × 4 smoke galaxies), after measuring it (`--quick --no-physics`) with its external galaxies taken
from another store (`--external`).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("ship_models", ROOT/"tools"/"ship_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ship = _tool()


def test_options():
    a = ship.parse(["run", "--name", "cae=cae-x", "--wall-time", "cyclegan=90.5", "--quick", "--n-check", "2", "--external", "other/external"])
    assert (a.runs, a.name, a.wall_time, a.metrics, a.external) == (["run"], {"cae": "cae-x"}, {"cyclegan": 90.5}, {}, "other/external")
    assert (a.n_check, a.n_external, a.n_holdout, a.holdout_preset) == (2, 8, 4, "smoke")   # --quick's sizes, except what was given
    a = ship.parse(["--export-only", "--metrics", "cae=m.json"])
    assert a.export_only and a.metrics == {"cae": Path("m.json")} and a.n_external == 2000
    for bad in (["--name", "gan=x"], ["--name", "cae"], ["--wall-time", "cae=long"], ["--metrics", "cae=m.json"],
                ["--no-export", "--export-only"]):
        with pytest.raises(SystemExit): ship.parse(bad)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    "A data root holding a toy dataset `toy`, another one's external store (`other`, 6 images) and a finished CAE run on `toy`."
    from survey2survey.core import data_root_set
    from survey2survey.train import train, write_toy_dataset
    tmp = tmp_path_factory.mktemp("ship")
    root = data_root_set(tmp)
    try:
        write_toy_dataset(tmp/"toy", n_train=4, n_val=4, n_external=4, image_size=150)
        write_toy_dataset(tmp/"other", n_train=1, n_val=1, n_external=6, image_size=150, seed=1)
        run = train("cae", "smoke", data="toy", out=tmp/"models"/"cae-toy")["path"]
    finally:
        root.restore()
    return tmp, run


def test_export_only(toy, monkeypatch):
    tmp, run = toy
    monkeypatch.setenv("SURVEY2SURVEY_DATA", str(tmp))
    (tmp/"m.json").write_text(json.dumps(dict(val=dict(mssim_median=0.25))))
    assert ship.main([str(run), "--export-only", "--data", "toy", "--name", "cae=cae-toy-v1", "--metrics", f"cae={tmp/'m.json'}",
                      "--wall-time", "cae=61", "--n-check", "3", "--root", str(tmp/"weights"), "--work", str(tmp/"w1")]) == 0
    card = json.loads((tmp/"weights"/"cae-toy-v1"/"card.json").read_text())
    assert (card["metrics"], card["wall_time_s"], card["check"]["images"]) == (dict(val=dict(mssim_median=0.25)), 61.0, 3)
    assert "| val/mssim_median | 0.25 |" in (tmp/"weights"/"cae-toy-v1"/"card.md").read_text()
    assert not (tmp/"w1"/"val").exists()   # nothing measured


@pytest.mark.slow
def test_measure_and_export_with_another_external_store(toy, monkeypatch):
    from survey2survey.store import open_store
    tmp, run = toy
    monkeypatch.setenv("SURVEY2SURVEY_DATA", str(tmp))
    work = tmp/"w2"
    assert ship.main([str(run), "--quick", "--no-physics", "--data", "toy", "--external", "other/external",
                      "--processes", "1", "--work", str(work)]) == 0
    ext, other = open_store(work/"ext"/"external"), open_store(tmp/"other"/"external")
    assert ext.n == 6 and ext.catalogue["id"].tolist() == other.catalogue["id"].tolist()   # min(--n-external 8, 6) rows of `other`
    assert np.array_equal(ext.read("sdss", slice(None)), other.read("sdss", slice(None)))
    metrics = json.loads((work/"cae.metrics.json").read_text())
    assert set(metrics) == {"val", "ext", "seed7-served", "seed7-float"}
    assert metrics["ext"]["dataset"].startswith(f"external store {tmp/'other'/'external'}: its first 6 of 6")
    assert metrics["val"]["n_galaxies"] == 4
    card = json.loads((work/"weights"/"cae-sim-v3"/"card.json").read_text())   # --quick exports under <work>/weights
    assert card["metrics"] == metrics and card["check"]["images"] == 4


def test_copy_rows_keeps_flux_arrays(tmp_path):
    "The held-out copy of a store with calibrated bands (`sdss_flux`, `des_flux`: any value, with a unit) keeps them and their units."
    from survey2survey.store import copy_rows, open_store
    from survey2survey.train import write_toy_dataset
    write_toy_dataset(tmp_path/"toyflux", flux=True)
    src = open_store(tmp_path/"toyflux"/"pairs")
    assert src.units and any(src.read(a, slice(None)).max() > 1 for a in src.units)   # values a picture store would refuse
    rows = src.indices("val")
    copy = copy_rows(src, rows, tmp_path/"copy")
    assert copy.units == src.units and copy.n == len(rows)
    for a in src.arrays: np.testing.assert_array_equal(copy.read(a, slice(None)), src.read(a, rows))
    assert copy_rows(src, rows, tmp_path/"copy").path == copy.path   # complete: reused
