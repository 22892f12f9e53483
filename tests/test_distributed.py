"""Scale-out on a local Dask cluster of worker *processes* (`survey2survey.distributed`):
bitwise-identical outputs, resume after a lost worker or a killed run, a bad scheduler
address, a damaged chunk. Runs `dask_runner.py` / the CLI in subprocesses."""
import json
import os
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
N_EXT, CHUNK = 24, 4   # the external store: 6 chunks


def env(root):
    return {**os.environ, "SURVEY2SURVEY_DATA": str(root), "SURVEY2SURVEY_PROGRESS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    "A data root with the toy dataset, the smoke CAE, and its single-process translation and evaluation."
    from survey2survey.evaluate import evaluate
    from survey2survey.train import train, write_toy_dataset
    from survey2survey.translate import translate
    r = tmp_path_factory.mktemp("root")
    os.environ["SURVEY2SURVEY_DATA"] = str(r)
    write_toy_dataset(r/"toy", n_train=8, n_val=4, n_external=N_EXT, chunk_size=CHUNK)
    train("cae", "smoke", data="toy")
    translate(r/"models"/"cae-smoke-seed0", r/"toy"/"external", output=r/"ref"/"cae-external")
    shutil.copytree(r/"toy"/"external", r/"ref"/"external")
    shutil.copytree(r/"toy"/"pairs", r/"ref"/"pairs")
    evaluate(r/"ref", out=r/"ref-eval", bootstrap=20, r_max_pix=10)
    return r


def images(path, name="cae"):
    from survey2survey.store import open_store
    return open_store(path).read(name, slice(None))


def runner(root, *steps, slow=0.0, **kw):
    return subprocess.Popen([sys.executable, str(HERE/"dask_runner.py"), str(root), *steps, "--slow", str(slow)],
                            env=env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def poison(store, name, i):
    "Chunk `i` of `name` overwritten with NaN, its record patched to match (a damaged store)."
    import zarr, zlib
    from survey2survey.store import MANIFEST, _chunk_file
    z = zarr.open_array(store/"images.zarr"/name, mode="r+")
    x = np.full((CHUNK, *z.shape[1:]), np.nan, np.float32)
    x[0, 0, 0, 0] = 0.0   # not all NaN: Zarr drops chunks equal to the fill value
    z[i*CHUNK:(i + 1)*CHUNK] = x
    m = json.loads((store/MANIFEST).read_text())
    m["chunks"][str(i)][name].update(crc32=zlib.crc32(x), nbytes=_chunk_file(store, name, i).stat().st_size, min=0.0, max=1.0)
    (store/MANIFEST).write_text(json.dumps(m))


def test_identical_to_single_process(root):
    "Translate and evaluate on 2 worker processes: bitwise equal to one process; the model loaded once per worker."
    model = root/"models"/"cae-smoke-seed0"
    (root/"d").mkdir()
    for s in ("external", "pairs"): shutil.copytree(root/"toy"/s, root/"d"/s)
    res = finish(runner(root, f"translate:{model}:{root/'d'/'external'}:{root/'d'/'cae-external'}", f"evaluate:{root/'d'}:{root/'d-eval'}"))
    tr, ev = res
    assert (tr["tasks"], tr["computed"], tr["images"]) == (6, 6, N_EXT)
    assert sorted(tr["loads"].values()) in ([1, 1], [0, 1])   # each worker that ran a chunk loaded the model once
    assert len(tr["peak_mb_per_worker"]) >= 1 and all(0 < m < 3000 for m in tr["peak_mb_per_worker"].values())
    assert images(root/"d"/"cae-external").tobytes() == images(root/"ref"/"cae-external").tobytes()
    from survey2survey.evaluate import load_evaluation
    a, b = load_evaluation(root/"d-eval"), load_evaluation(root/"ref-eval")
    for t in ("images", "pairs", "profiles", "quartiles"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True)


def test_nan_chunk_gives_flagged_rows(root):
    "A damaged chunk: flagged NaN rows in the metrics (as in one process); its translation is refused, the rest written."
    from survey2survey.evaluate import evaluate, load_evaluation
    from survey2survey.store import StoreWriter
    (root/"n").mkdir()
    for s in ("external", "pairs"): shutil.copytree(root/"toy"/s, root/"n"/s)
    shutil.copytree(root/"ref"/"cae-external", root/"n"/"cae-external")
    poison(root/"n"/"external", "sdss", 2)
    model = root/"models"/"cae-smoke-seed0"
    proc = runner(root, f"evaluate:{root/'n'}:{root/'n-eval'}", f"translate:{model}:{root/'n'/'external'}:{root/'n-rec'}")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "1 of 6 chunks failed (the other chunks are done); chunk 2" in err
    assert StoreWriter(root/"n-rec", worker=True).pending_chunks() == [2]
    ev = load_evaluation(root/"n-eval")
    flagged = ev.images.query("split == 'external'").groupby("row")["nonfinite"].all()
    assert flagged[flagged].index.tolist() == list(range(8, 12))
    assert ev.images.query("nonfinite")["flux_mag"].isna().all()
    assert ev.manifest["counts"]["external"]["sdss"]["nonfinite"] == 4
    one = evaluate(root/"n", out=root/"n-eval-one", bootstrap=20, r_max_pix=10)
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


def test_lost_worker_then_killed_run_resumes(root):
    "SIGKILL one worker mid-run: the run still completes; SIGKILL the whole run: the rerun computes only missing chunks."
    model, ref = root/"models"/"cae-smoke-seed0", images(root/"ref"/"cae-external")
    # a lost worker: Dask reruns its task elsewhere, the output is complete and identical
    out = root/"lost"
    proc = runner(root, f"translate:{model}:{root/'toy'/'external'}:{out}", slow=0.4)
    pids = json.loads(proc.stdout.readline().split(" ", 1)[1])
    _wait_for_records(out, 1, proc)
    os.kill(pids[0], signal.SIGKILL)
    res = finish(proc)
    assert res[0]["images"] == N_EXT and images(out).tobytes() == ref.tobytes()
    # a killed run: finished chunks stay, none half-written; the rerun computes the rest only
    out = root/"killed"
    proc = runner(root, f"translate:{model}:{root/'toy'/'external'}:{out}", slow=0.4, start_new_session=True)
    proc.stdout.readline()
    _wait_for_records(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    done = _records(out)
    assert 2 <= len(done) < 6
    res = finish(runner(root, f"translate:{model}:{root/'toy'/'external'}:{out}"))
    assert res[0]["computed"] == 6 - len(done)
    from survey2survey.store import open_store
    s = open_store(out, deep=True)
    assert images(out).tobytes() == ref.tobytes()
    assert s.manifest["chunks"] == open_store(root/"ref"/"cae-external").manifest["chunks"]


def test_bad_scheduler_address_fails_fast(root):
    from survey2survey.core import InputError
    from survey2survey.distributed import client_for
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9 .*--scheduler local"):
        with client_for("tcp://127.0.0.1:9"): pass
    assert time.perf_counter() - t0 < 15


def test_cli_local_cluster(root):
    "`survey2survey translate/evaluate --scheduler local --workers 2`: the dashboard line, peak memory, same store."
    (root/"c").mkdir()
    shutil.copytree(root/"toy"/"external", root/"c"/"external")
    r = subprocess.run([str(BIN/"survey2survey"), "translate", "--model", "cae-smoke-seed0", "--input", str(root/"c"/"external"),
                        "--scheduler", "local", "--workers", "2"], env=env(root), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "dask dashboard: " in r.stdout and "peak memory per worker: " in r.stdout
    assert images(root/"c"/"cae-external").tobytes() == images(root/"ref"/"cae-external").tobytes()
