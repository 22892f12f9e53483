"""`survey2survey translate` on a user's own image files, through the command line: a JPEG folder in, PNG + FITS + CSV
out, checked against the network applied directly; bad files reported one by one while the rest are done; inputs never
overwritten; and a run SIGKILLed after K files resumed by a rerun that does not redo them."""
import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from survey2survey.cli import main
from survey2survey.core import file_hash
from survey2survey.images import CSV_NAME, read_picture, read_table
from survey2survey.store import open_store
from survey2survey.train import write_toy_dataset

SIZE = 48   # toy pictures: small enough to train the smoke CAE in seconds, larger than the CAE's 16-pixel minimum

# Runs the CLI in-process and SIGKILLs itself just before the K-th FITS output is renamed into place (every output is
# written to a temporary file, then `os.replace`d), so exactly K-1 inputs are finished, however fast the machine is.
DIE_AFTER = """
import os, signal, sys
from survey2survey.cli import main
_replace, placed = os.replace, [0]
def replace(src, dst, *a, **k):
    if str(dst).endswith(".fits"):
        placed[0] += 1
        if placed[0] == int(sys.argv[1]): os.kill(os.getpid(), signal.SIGKILL)
    return _replace(src, dst, *a, **k)
os.replace = replace
sys.exit(main(sys.argv[2:]))
"""


def cli(*argv):
    "Run the CLI in-process: (status, stdout, stderr with the package's log messages)."
    out, err = io.StringIO(), io.StringIO()
    log, handler = logging.getLogger("survey2survey"), logging.StreamHandler(err)   # its handler writes to the stderr it was made with
    log.addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): status = main([str(a) for a in argv])
    finally: log.removeHandler(handler)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    "A data root with a toy dataset and the smoke CAE trained on it."
    root = tmp_path_factory.mktemp("root")
    write_toy_dataset(root/"toy", n_train=8, n_val=4, n_external=8, image_size=SIZE)
    status, _, err = cli("--data-root", root, "-q", "train", "cae", "--preset", "smoke", "--data", "toy")
    assert status == 0, err
    return root


@pytest.fixture
def jpegs(root, tmp_path):
    "A folder of six JPEG cutouts (the toy external pictures, 8-bit, quality 90)."
    folder = tmp_path/"cutouts"
    folder.mkdir()
    for i, x in enumerate(open_store(root/"toy"/"external").read("sdss", slice(0, 6))):
        Image.fromarray(np.round(x*255).astype(np.uint8)).save(folder/f"galaxy{i}.jpg", quality=90)
    return folder


def network(root, x):
    "The CAE applied directly to pictures `x`."
    import keras
    net = keras.models.load_model(root/"models"/"cae-smoke-seed0"/"model.keras", compile=False)
    return np.clip(keras.ops.convert_to_numpy(net(x)), 0, 1)


def fits_picture(path):
    "A FITS output as (H, W, 3), row 0 at the top."
    return np.moveaxis(fits.getdata(path), 0, -1)[::-1]


def test_jpeg_folder_to_png_fits_csv(root, jpegs, tmp_path):
    status, out, err = cli("--data-root", root, "translate", "--model", "cae-smoke-seed0", "--input", jpegs, "--output", tmp_path/"out",
                           "--batch-size", "4")
    assert status == 0, err
    assert out.splitlines() == [f"{tmp_path/'out'}: 6 translated, 0 already done, 0 failed (table: {CSV_NAME})"]
    x = np.stack([np.asarray(Image.open(jpegs/f"galaxy{i}.jpg"), np.float32)/255 for i in range(6)])
    y = network(root, x)
    got = np.stack([fits_picture(tmp_path/"out"/f"galaxy{i}.fits") for i in range(6)])
    assert got.dtype == np.float32 and got.shape == (6, SIZE, SIZE, 3)
    np.testing.assert_allclose(got, y, atol=1e-6)
    png = np.stack([np.asarray(Image.open(tmp_path/"out"/f"galaxy{i}.png")) for i in range(6)]).astype(int)
    assert np.abs(png - np.round(y*255)).max() <= 1 and (png == np.round(y*255)).mean() > 0.999
    assert y.std() > 1e-3   # not a constant picture: a wrong file/output pairing would show
    t = read_table(tmp_path/"out")
    assert t.input.tolist() == [str(jpegs/f"galaxy{i}.jpg") for i in range(6)]
    assert t.status.tolist() == ["ok"]*6 and t.error.tolist() == [""]*6
    assert t.png.tolist() == [f"galaxy{i}.png" for i in range(6)] and t.fits.tolist() == [f"galaxy{i}.fits" for i in range(6)]
    assert (t.height.tolist(), t.width.tolist()) == ([SIZE]*6, [SIZE]*6) and (t.seconds > 0).all()
    assert t.input_hash.tolist() == [file_hash(jpegs/f"galaxy{i}.jpg") for i in range(6)]
    h = fits.getheader(tmp_path/"out"/"galaxy3.fits")
    assert (h["MODEL"], h["MODELNAM"], h["INPUT"], h["INHASH"]) == ("cae", "cae-smoke-seed0", "galaxy3.jpg", file_hash(jpegs/"galaxy3.jpg"))
    assert h["MODELID"] == file_hash(root/"models"/"cae-smoke-seed0"/"model.keras") == t.model_id[3]


def test_bad_files_each_reported_the_rest_done(root, jpegs, tmp_path):
    x = read_picture(jpegs/"galaxy0.jpg")
    Image.fromarray(np.round(x[..., 1]*255).astype(np.uint8)).save(jpegs/"gray.png")
    Image.fromarray(np.round(x[..., 1]*65535).astype(np.uint16)).save(jpegs/"deep.png")   # 16-bit grayscale
    (jpegs/"cut.jpg").write_bytes((jpegs/"galaxy1.jpg").read_bytes()[:700])
    Image.fromarray(np.round(x[:10, :30]*255).astype(np.uint8)).save(jpegs/"small.png")
    nan = np.moveaxis(x[::-1], -1, 0).copy()
    nan[2, 3, 4] = np.nan
    fits.writeto(jpegs/"nan.fits", nan)
    before = {p.name: file_hash(p) for p in jpegs.iterdir()}
    status, out, err = cli("--data-root", root, "translate", "--model", "cae-smoke-seed0", "--input", jpegs, "--output", tmp_path/"out")
    assert status == 1
    assert out.splitlines() == [f"{tmp_path/'out'}: 6 translated, 0 already done, 5 failed (table: {CSV_NAME})"]
    for name, problem in (("gray.png", "grayscale (L mode: one channel)"), ("deep.png", "16-bit grayscale PNG"),
                          ("cut.jpg", "unreadable JPEG ("), ("small.png", "30x10 pixels, fewer than 16 on a side"),
                          ("nan.fits", "1 NaN/inf pixels")):
        assert f"{jpegs/name}: {problem}" in err, (name, err)
    t = read_table(tmp_path/"out").set_index("input")
    assert (t.status == "ok").sum() == 6 and (t.status == "error").sum() == 5
    assert t.loc[str(jpegs/"nan.fits"), "error"].startswith("1 NaN/inf pixels -> fill or cut them away")
    assert t.loc[str(jpegs/"nan.fits"), ["png", "fits"]].tolist() == ["", ""]
    assert sorted(p.name for p in (tmp_path/"out").iterdir()) == sorted([f"galaxy{i}.{e}" for i in range(6) for e in ("png", "fits")] + [CSV_NAME])
    assert {p.name: file_hash(p) for p in jpegs.iterdir()} == before


def test_inputs_never_overwritten(root, jpegs):
    before = {p.name: file_hash(p) for p in jpegs.iterdir()}
    for output in (jpegs, jpegs/"."):
        status, _, err = cli("--data-root", root, "translate", "--model", "cae-smoke-seed0", "--input", jpegs, "--output", output)
        assert status == 2 and "inputs are never overwritten" in err
    status, _, err = cli("--data-root", root, "translate", "--model", "cae-smoke-seed0", "--input", jpegs/"galaxy2.jpg", "--output", jpegs)
    assert status == 2 and f"holds the input {jpegs/'galaxy2.jpg'}" in err
    assert {p.name: file_hash(p) for p in jpegs.iterdir()} == before


def test_resume_after_kill(root, jpegs, tmp_path):
    args = ["--data-root", root, "-q", "translate", "--model", "cae-smoke-seed0", "--input", jpegs, "--batch-size", "1"]
    ref = cli(*args, "--output", tmp_path/"ref")
    assert ref[0] == 0, ref[2]
    out = tmp_path/"out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, "-c", DIE_AFTER, "3", *map(str, args), "--output", str(out)],
                            capture_output=True, text=True, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    t = read_table(out)
    assert t.input.tolist() == [str(jpegs/"galaxy0.jpg"), str(jpegs/"galaxy1.jpg")] and (t.status == "ok").all()
    for p in out.glob("*.fits"): fits.getdata(p)   # whatever is in place is whole
    assert not (out/"galaxy2.fits").exists() and any(p.name.startswith(".galaxy2.fits.") for p in out.iterdir())
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("galaxy[01].*")}
    status, stdout, err = cli(*args, "--output", out)
    assert status == 0, err
    assert f"{out}: 4 translated, 2 already done, 0 failed" in stdout
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("galaxy[01].*")} == kept   # not redone
    assert not any(p.name.startswith(".") for p in out.iterdir())
    for i in range(6):
        np.testing.assert_array_equal(fits.getdata(out/f"galaxy{i}.fits"), fits.getdata(tmp_path/"ref"/f"galaxy{i}.fits"))
        assert (out/f"galaxy{i}.png").read_bytes() == (tmp_path/"ref"/f"galaxy{i}.png").read_bytes()
    done = read_table(out)
    assert done.input.tolist() == [str(jpegs/f"galaxy{i}.jpg") for i in range(6)] and (done.status == "ok").all()
    status, stdout, _ = cli(*args, "--output", out, "--overwrite")
    assert status == 0 and "6 translated, 0 already done" in stdout


def test_stores_still_translated(root):
    status, out, err = cli("--data-root", root, "translate", "--model", "cae-smoke-seed0", "--input", "toy/external")
    assert status == 0, err
    assert out.splitlines() == [f"{root}/toy/cae-external: 8 cae reconstructions"]
