"""The store's promises that need more than one process: kills, resumes, parallel writers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from survey2survey.core import IncompleteStoreError, StoreError, StoreValidationError
from survey2survey.store import CATALOGUE, LOCK, MANIFEST, PARTS, chunk_file, create_store, open_store

HERE = Path(__file__).parent
WRITER = HERE/"store_writer.py"
sys.path.insert(0, str(HERE))
import store_writer  # noqa: E402


def write(path, *args, check=True, **kw):
    return subprocess.run([sys.executable, str(WRITER), str(path), *args], capture_output=True, text=True, check=check, **kw)


def tree_bytes(root: Path) -> dict:
    "Every file under `root` (relative path -> bytes)."
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The toy store written in one uninterrupted run."
    path = tmp_path_factory.mktemp("ref")/"toy"
    write(path)
    return path


def test_reference_store_matches_its_generator(reference):
    s = open_store(reference, deep=True)
    images, cat = store_writer.make_chunk(3, slice(24, 32))
    np.testing.assert_array_equal(s.read("sdss", slice(24, 32)), images["sdss"])
    np.testing.assert_array_equal(s.read("des", [31, 24]), images["des"][[7, 0]])
    pd.testing.assert_frame_equal(s.catalogue.iloc[24:32].reset_index(drop=True), cat, check_dtype=False)
    assert not (reference/PARTS).exists() and not (reference/LOCK).exists()


def test_sigkill_between_chunks_then_resume(tmp_path, reference):
    path = tmp_path/"toy"
    r = write(path, "--die-at", "chunk:3", check=False)
    assert r.returncode == -signal.SIGKILL and r.stdout.split() == ["chunk", "0", "chunk", "1", "chunk", "2"], r.stdout
    with pytest.raises(IncompleteStoreError, match=r"incomplete: 3 of 9 chunks written"):
        open_store(path)
    # resumes: only the missing chunks are written, and the result is byte-identical
    out = write(path).stdout
    assert "chunk 0\n" not in out and "chunk 8" in out
    assert tree_bytes(path) == tree_bytes(reference)


@pytest.mark.parametrize("die_at", ["marker:4", "array:7", "marker:8"])
def test_sigkill_inside_a_chunk_then_resume(tmp_path, reference, die_at):
    path = tmp_path/"toy"
    r = write(path, "--die-at", die_at, check=False)
    assert r.returncode == -signal.SIGKILL
    s = open_store(path, allow_incomplete=True)
    assert not s.complete
    with pytest.raises(IncompleteStoreError, match="rerun the command"): open_store(path)
    write(path)
    assert tree_bytes(path) == tree_bytes(reference)


def test_parallel_writer_is_byte_identical(tmp_path, reference):
    write(tmp_path/"toy", "--processes", "2")
    assert tree_bytes(tmp_path/"toy") == tree_bytes(reference)


def test_rerun_of_complete_store_writes_nothing(tmp_path, reference):
    import shutil
    shutil.copytree(reference, tmp_path/"toy")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path/"toy").rglob("*")}
    out = write(tmp_path/"toy").stdout
    assert "chunk" not in out
    assert {p: p.stat().st_mtime_ns for p in (tmp_path/"toy").rglob("*")} == before


def test_a_live_writer_locks_the_store(tmp_path):
    proc = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path/"toy"), "--sleep", "600"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("chunk")
        with pytest.raises(StoreError, match="is being written by process"):
            create_store(tmp_path/"toy", n=70, image_size=24, chunk_size=8, attrs=dict(preset="toy", seed=7))
        with pytest.raises(StoreError, match="is being written by process"):
            create_store(tmp_path/"toy", n=70, image_size=24, chunk_size=8, overwrite=True)
    finally:
        proc.kill(); proc.wait()


def test_a_lock_left_empty_or_garbled_is_taken_over(tmp_path, reference):
    "A writer killed while creating its lock, or a damaged disk, must not lock the store for ever (pid -1 once read as alive)."
    import shutil, socket
    shutil.copytree(reference, tmp_path/"toy")
    for text in ("", "{", "garbage", '{"pid": -1, "host": "%s"}' % socket.gethostname()):
        (tmp_path/"toy"/LOCK).write_text(text)
        with create_store(tmp_path/"toy", n=70, image_size=24, chunk_size=8, attrs=dict(preset="toy", seed=7)) as w:
            assert json.loads((tmp_path/"toy"/LOCK).read_text())["pid"] == os.getpid()
        assert not (tmp_path/"toy"/LOCK).exists()


def test_overwrite_replaces_a_store_but_never_a_foreign_folder(tmp_path, reference):
    import shutil
    shutil.copytree(reference, tmp_path/"toy")
    w = create_store(tmp_path/"toy", n=10, image_size=24, chunk_size=8, overwrite=True)
    assert w.pending_chunks() == [0, 1]
    w.close()
    (tmp_path/"home").mkdir(); (tmp_path/"home"/"thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not a survey2survey store"):
        create_store(tmp_path/"home", n=10, overwrite=True)
    assert (tmp_path/"home"/"thesis.tex").read_text() == "precious"


def test_damage_is_detected_and_named(tmp_path, reference):
    import shutil
    # a flipped byte keeps the file size: only the deep check sees it
    shutil.copytree(reference, tmp_path/"flip")
    f = chunk_file(tmp_path/"flip", "sdss", 5)
    b = bytearray(f.read_bytes()); b[len(b)//2] ^= 0xFF; f.write_bytes(bytes(b))
    open_store(tmp_path/"flip")
    with pytest.raises(StoreValidationError, match=r"sdss: chunk 5 (does not match its checksum|cannot be decoded)"):
        open_store(tmp_path/"flip", deep=True)
    # a deleted chunk
    shutil.copytree(reference, tmp_path/"hole")
    chunk_file(tmp_path/"hole", "des", 2).unlink()
    with pytest.raises(StoreValidationError, match=r"des: chunk 2 \(images 16..23\) is missing"):
        open_store(tmp_path/"hole")
    # a truncated manifest
    shutil.copytree(reference, tmp_path/"manifest")
    m = tmp_path/"manifest"/MANIFEST
    m.write_text(m.read_text()[:50])
    with pytest.raises(StoreValidationError, match="manifest.json is unreadable"):
        open_store(tmp_path/"manifest")
    # a catalogue with a row missing
    shutil.copytree(reference, tmp_path/"short")
    c = tmp_path/"short"/CATALOGUE
    pd.read_parquet(c).iloc[:-1].to_parquet(c, index=False)
    with pytest.raises(StoreValidationError, match="69 rows but the arrays hold 70 images"):
        open_store(tmp_path/"short")
    # an array of the wrong shape
    shutil.copytree(reference, tmp_path/"shape")
    j = tmp_path/"shape"/"images.zarr"/"des"/"zarr.json"
    meta = json.loads(j.read_text()); meta["shape"] = [70, 24, 20, 3]; j.write_text(json.dumps(meta))
    with pytest.raises(StoreValidationError, match=r"des: array has shape \(70, 24, 20, 3\)"):
        open_store(tmp_path/"shape")


def test_writer_refuses_mismatched_chunks(tmp_path):
    w = create_store(tmp_path/"s", n=16, image_size=24, chunk_size=8)
    images, cat = store_writer.make_chunk(0, slice(0, 8))
    with pytest.raises(StoreValidationError, match="got arrays"):
        w.write_chunk(0, cat, sdss=images["sdss"])
    with pytest.raises(StoreValidationError, match="expected float32"):
        w.write_chunk(0, cat, sdss=(images["sdss"]*255).astype("uint8"), des=images["des"])
    with pytest.raises(StoreValidationError, match="row 3 has split 'test'"):
        w.write_chunk(0, cat.assign(split=["train"]*3 + ["test"] + ["train"]*4), **images)
    w.write_chunk(0, cat, **images)
    w.write_chunk(1, cat.assign(id=cat["id"] + 100, extra=1), **images)
    with pytest.raises(StoreValidationError, match="chunk 1 has catalogue columns"):
        w.finalize()
    w.write_chunk(1, cat, **images)
    with pytest.raises(StoreValidationError, match="ids are not unique"):
        w.finalize()
    assert not w.complete
    w.close()


def _children(pid:int) -> list[int]:
    "The pids whose parent is `pid` (Linux /proc)."
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit(): continue
        try: stat = (d/"stat").read_text()
        except OSError: continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid: out.append(int(d.name))
    return out


def _pool_worker_running(pid:int) -> bool:
    "Whether `pid` is a live (not zombie) multiprocessing worker."
    try: state, cmd = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0], Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError: return False
    return state != "Z" and b"spawn_main" in cmd


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc (Linux)")
def test_pool_workers_exit_with_a_killed_parent(tmp_path):
    "A parallel `fill` whose process is SIGKILLed leaves no worker behind (they used to live on, computing, then blocked forever)."
    env = {**os.environ, "STORE_WRITER_CHUNK_SLEEP": "3"}
    p = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path/"s"), "--processes", "2"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, workers = time.monotonic() + 120, []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = [c for c in _children(p.pid) if _pool_worker_running(c)]
    assert len(workers) == 2, f"expected the pool's 2 workers, found {workers}"
    time.sleep(1.0)   # both are inside a 3 s chunk, with more queued
    p.kill(); p.wait()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15 and any(map(_pool_worker_running, workers)): time.sleep(0.2)
    assert not any(map(_pool_worker_running, workers)), f"pool workers {workers} outlived their killed parent"
    assert time.monotonic() - t0 < 5, "the workers took more than 5 s to notice"
