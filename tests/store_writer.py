"""Writes a deterministic toy store; `test_store.py` runs it in a subprocess and kills it.

    python store_writer.py PATH [--processes N] [--sleep S] [--die-at WHAT:K]

`--die-at chunk:K` SIGKILLs the process between chunks, just before it starts chunk K
(one process); `--die-at marker:K` just before it records chunk K (its arrays and
catalogue rows are already on disk); `--die-at array:K` during the K-th array write,
between the two arrays of a chunk.
"""
import argparse
import os
import signal
import sys
import time

import numpy as np
import pandas as pd

import survey2survey.store as store

N, SIZE, CHUNK = 70, 24, 8


def make_chunk(i, rows):
    "Chunk `i` of the toy store: random images and a catalogue, the same on every run."
    rng = np.random.default_rng([7, i])
    time.sleep(float(os.environ.get("STORE_WRITER_CHUNK_SLEEP", 0)))   # slow workers, for the orphan test
    k = rows.stop - rows.start
    sdss = rng.random((k, SIZE, SIZE, 3), dtype=np.float32)
    cat = pd.DataFrame(dict(id=np.arange(rows.start, rows.stop), ra=rng.uniform(0, 360, k), dec=rng.uniform(-1, 1, k),
                            split=np.where(np.arange(rows.start, rows.stop) % 7 == 0, "val", "train"),
                            mag_r=rng.normal(17, 0.5, k), note=[f"galaxy {j}" for j in range(rows.start, rows.stop)]))
    return dict(sdss=sdss, des=np.sqrt(sdss)), cat


def _die(): os.kill(os.getpid(), signal.SIGKILL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--die-at", default="")
    a = p.parse_args()
    what, _, k = a.die_at.partition(":")
    if what == "marker":
        real = store._write_json
        def write_json(path, d):
            if path.name == f"chunk-{int(k):06d}.json": _die()
            real(path, d)
        store._write_json = write_json
    elif what == "array":
        import zarr
        real_set, calls = zarr.Array.__setitem__, [0]
        def setitem(self, key, value):
            calls[0] += 1
            if calls[0] == int(k): _die()
            real_set(self, key, value)
        zarr.Array.__setitem__ = setitem
    w = store.create_store(a.path, n=N, image_size=SIZE, chunk_size=CHUNK, attrs=dict(preset="toy", seed=7),
                           provenance=dict(writer="tests/store_writer.py"))
    if a.processes > 1:
        w.fill(make_chunk, processes=a.processes)
    else:
        for i in w.pending_chunks():
            if what == "chunk" and i == int(k): _die()
            images, cat = make_chunk(i, w.spec.chunk_slice(i))
            w.write_chunk(i, cat, **images)
            print(f"chunk {i}", flush=True)
            time.sleep(a.sleep)
        w.finalize()
    w.close()
    print("done", flush=True)


if __name__ == "__main__":
    sys.exit(main())
