"""Scale-out on a local Dask cluster of worker *processes* (`survey2survey.distributed`):
bitwise-identical outputs, resume after a lost worker or a killed run, a bad scheduler
address, damaged input images (NaN/inf: flagged rows, never given to the network). Runs
`dask_runner.py` / the CLI in subprocesses."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
N_EXT, CHUNK = 32, 4   # the external store: 8 chunks
ONE_THREAD = dict(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")


def env(root, **kw):
    return {**os.environ, "SURVEY2SURVEY_DATA": str(root), "SURVEY2SURVEY_PROGRESS": "0", "TF_CPP_MIN_LOG_LEVEL": "2", **kw}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with the toy dataset, the smoke CAE, and the reference: its single-process translation
    (`survey2survey translate`, one TensorFlow thread like a local cluster's workers) and evaluation."""
    from survey2survey.evaluate import evaluate
    from survey2survey.train import train, write_toy_dataset
    r = tmp_path_factory.mktemp("root")
    with pytest.MonkeyPatch.context() as mp:   # this module's data root, for its tests only
        mp.setenv("SURVEY2SURVEY_DATA", str(r))
        write_toy_dataset(r/"toy", n_train=8, n_val=4, n_external=N_EXT, chunk_size=CHUNK)
        train("cae", "smoke", data="toy")
        for s in ("external", "pairs"): shutil.copytree(r/"toy"/s, r/"ref"/s)
        t = subprocess.run([str(BIN/"survey2survey"), "translate", "--model", "cae-smoke-seed0", "--input", str(r/"ref"/"external")],
                           env=env(r, **ONE_THREAD), capture_output=True, text=True)
        assert t.returncode == 0, t.stderr[-3000:]
        evaluate(r/"ref", out=r/"ref-eval", bootstrap=20, r_max_pix=10)
        yield r


def images(path, name="cae"):
    from survey2survey.store import open_store
    return open_store(path).read(name, slice(None))


def runner(root, *steps, options=(), **kw):
    return subprocess.Popen([sys.executable, str(HERE/"dask_runner.py"), str(root), *steps, *options],
                            env=env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


FLAGGED = np.isin(np.arange(N_EXT), [9, 20, 21, 22, 23])   # damaged by `damage`: image 9 NaN, chunk 5 infinite


def damage(store):
    "Image 9 of `store` overwritten with NaN and chunk 5 (images 20-23) with inf, behind the writer's back."
    from survey2survey.store import damage_images
    damage_images(store, "sdss", [9])
    damage_images(store, "sdss", range(20, 24), value=np.inf)


def check_flagged(path, reference):
    "The reconstruction store at `path`: the damaged rows flagged and NaN, the others bitwise `reference`'s."
    from survey2survey.store import open_store
    rec = open_store(path, deep=True)
    y = rec.read("cae", slice(None))
    assert (rec.catalogue["nonfinite"].to_numpy() == FLAGGED).all()
    assert (np.isnan(y).all(axis=(1, 2, 3)) == FLAGGED).all()
    assert y[~FLAGGED].tobytes() == reference[~FLAGGED].tobytes()


def test_identical_to_single_process(root, caplog, monkeypatch):
    """Translate and evaluate on 2 worker processes: bitwise equal to one process with the same TensorFlow threads
    (and equal to float32 rounding to one with TensorFlow's default threads); the model loaded once per worker,
    never in the client. Damaged input images (NaN, inf) give flagged NaN rows on both paths, whatever the CPU makes
    of NaN, and the other rows are those of the undamaged translation, bit for bit."""
    from survey2survey.core import get_logger
    from survey2survey.evaluate import load_evaluation
    from survey2survey.translate import translate
    model = root/"models"/"cae-smoke-seed0"
    for s in ("external", "pairs"): shutil.copytree(root/"toy"/s, root/"d"/s)
    shutil.copytree(root/"toy"/"external", root/"n"/"external")
    damage(root/"n"/"external")
    proc = runner(root, f"translate:{model}:{root/'d'/'external'}:{root/'d'/'cae-external'}", f"evaluate:{root/'d'}:{root/'d-eval'}",
                  f"translate:{model}:{root/'n'/'external'}:{root/'n-rec'}")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    tr, ev, _ = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert (tr["tasks"], tr["computed"], tr["images"]) == (N_EXT//CHUNK,)*2 + (N_EXT,)
    assert sorted(tr["loads"].values()) in ([1, 1], [0, 1])   # each worker that ran a chunk loaded the model once
    assert tr["client_imports"] == ev["client_imports"] == []   # the client only coordinates: no Keras, no TensorFlow
    assert all(0 < m < 3000 for m in tr["peak_mb_per_worker"].values())
    x = images(root/"d"/"cae-external")
    assert x.tobytes() == images(root/"ref"/"cae-external").tobytes()
    default_threads = translate(model, root/"toy"/"external", output=root/"default-threads").read("cae", slice(None))
    np.testing.assert_allclose(x, default_threads, rtol=0, atol=1e-5)
    a, b = load_evaluation(root/"d-eval"), load_evaluation(root/"ref-eval")
    for t in ("images", "pairs", "profiles", "quartiles"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True)
    assert "5 of 32 input images have NaN/inf pixels" in err, err[-3000:]
    check_flagged(root/"n-rec", x)
    monkeypatch.setattr(get_logger(), "propagate", True)   # the package's logger writes to stderr only: let caplog see it
    check_flagged(translate(model, root/"n"/"external", output=root/"n-one").path, default_threads)
    assert "5 of 32 input images have NaN/inf pixels: not translated" in caplog.text


def test_cli_nan_chunk_gives_flagged_rows(root):
    "`survey2survey evaluate --scheduler local`: a damaged chunk gives flagged NaN rows, as in one process; dashboard and memory printed."
    from survey2survey.evaluate import evaluate, load_evaluation
    for s in ("external", "pairs", "cae-external"): shutil.copytree(root/"ref"/s, root/"c"/s)
    from survey2survey.store import damage_images
    damage_images(root/"c"/"external", "sdss", range(8, 12))
    # `python -c`: the console script pip writes guards `main()`; a bare wrapper would be re-run by each spawned worker
    cli = [sys.executable, "-c", "import sys; from survey2survey.cli import main; sys.exit(main())"]
    r = subprocess.run([*cli, "evaluate", str(root/"c"), "--splits", "external", "--bootstrap", "20", "--r-max", "10",
                        "--scheduler", "local", "--workers", "2"], env=env(root), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"dask dashboard: http://\S+:\d+/status", r.stdout) and "peak memory per worker: " in r.stdout, r.stdout
    ev = load_evaluation(root/"c")
    flagged = ev.images.groupby("row")["nonfinite"].all()
    assert flagged[flagged].index.tolist() == list(range(8, 12))
    assert ev.images.query("nonfinite")["flux_mag"].isna().all() and not ev.images.query("not nonfinite")["flux_mag"].isna().any()
    assert ev.manifest["counts"]["external"]["sdss"]["nonfinite"] == 4
    one = evaluate(root/"c", out=root/"c-one", splits=["external"], bootstrap=20, r_max_pix=10)
    pd.testing.assert_frame_equal(ev.images, one.images, check_exact=True)
    pd.testing.assert_frame_equal(ev.pairs, one.pairs, check_exact=True)


def _records(store):
    return {p.name: p.stat().st_mtime_ns for p in (store/"_parts").glob("chunk-*.json")}


def _wait_for_records(store, k, proc, timeout=180):
    t0 = time.time()
    while len(_records(store)) < k:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() - t0 < timeout, "no progress"
        time.sleep(0.05)


def test_lost_worker_then_killed_run_resumes(root, tmp_path):
    """SIGKILL one worker mid-run: the run goes on; then SIGKILL the whole run: finished chunks stay, none is
    half-written, and the rerun computes only the missing chunks; the result equals the reference bit for bit."""
    model, out, n_chunks, gate = root/"models"/"cae-smoke-seed0", root/"killed", N_EXT//CHUNK, tmp_path/"gate"
    proc = runner(root, f"translate:{model}:{root/'toy'/'external'}:{out}", options=("--gate", str(gate), "--stall-from", "5"),
                  start_new_session=True)
    try:
        pids = json.loads(proc.stdout.readline().split(" ", 1)[1])
        _wait_for_records(out, 1, proc)      # chunk 0; the others are held
        os.kill(pids[0], signal.SIGKILL)     # a lost worker: Dask reruns its task on the other one
        gate.touch()
        _wait_for_records(out, 5, proc)      # the run goes on, up to chunk 4; chunks 5-7 are held for good
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a killed run
        proc.wait()
    done = _records(out)
    assert sorted(done) == [f"chunk-{i:06d}.json" for i in range(5)]
    res = finish(runner(root, f"translate:{model}:{root/'toy'/'external'}:{out}"))
    assert res[0]["computed"] == n_chunks - len(done)
    from survey2survey.store import open_store
    s = open_store(out, deep=True)
    assert s.read("cae", slice(None)).tobytes() == images(root/"ref"/"cae-external").tobytes()
    assert s.manifest["chunks"] == open_store(root/"ref"/"cae-external").manifest["chunks"]


def test_bad_scheduler_address_fails_fast(root):
    from survey2survey.core import InputError
    from survey2survey.distributed import client_for
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9 .*--scheduler local"):
        with client_for("tcp://127.0.0.1:9"): pass
    assert time.perf_counter() - t0 < 15
