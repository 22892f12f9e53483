"""Store and loader throughput, measured in one run on the same data.

    python benchmarks/bench_store.py [--n 512] [--batch-size 16]

Prints: write and read throughput of the store (images/s and MB/s), and the ratio of
`PairDataset` batches (streamed from disk, two-level shuffle) to batches gathered from
the same images held in memory in the same order. The loader's job is to keep up with
training: the CAE takes ~160 ms per image per step on a 2-core CPU, i.e. ~6 images/s,
so any loader rate far above that is enough.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

import numpy as np
import pandas as pd


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=16)
    a = p.parse_args()
    from survey2survey.loader import PairDataset
    from survey2survey.store import create_store, open_store

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:150, :150]
    blob = np.exp(-((xx - 74.5)**2 + (yy - 74.5)**2) / 300)[None, :, :, None]
    def chunk(i, rows):
        k = rows.stop - rows.start
        x = np.clip(0.6*blob + rng.normal(0.05, 0.03, (k, 150, 150, 3)), 0, 1).astype(np.float32)
        cat = pd.DataFrame(dict(id=np.arange(rows.start, rows.stop), ra=0.0, dec=0.0, split="train"))
        return dict(sdss=x, des=np.sqrt(x)), cat

    with tempfile.TemporaryDirectory() as d:
        path = Path(d)/"bench"
        mb = a.n * 150*150*3*4 * 2 / 1e6
        t = time.perf_counter()
        w = create_store(path, n=a.n); w.fill(chunk); w.close()
        tw = time.perf_counter() - t
        s = open_store(path)
        t = time.perf_counter()
        for _ in s.iter_chunks("sdss"): pass
        for _ in s.iter_chunks("des"): pass
        tr = time.perf_counter() - t
        print(f"store write: {a.n/tw:8.0f} pairs/s ({mb/tw:6.0f} MB/s)   read: {a.n/tr:8.0f} pairs/s ({mb/tr:6.0f} MB/s)")

        ds = PairDataset(s, batch_size=a.batch_size, seed=0)
        x_mem, y_mem = s.read("sdss", slice(None)), s.read("des", slice(None))
        def stream():
            for i in range(len(ds)): xb, yb = ds[i]
        def memory():
            for i in range(len(ds)):
                rows = ds.order[i*a.batch_size:(i+1)*a.batch_size]
                xb, yb = x_mem[rows], y_mem[rows]
        for f in (stream, memory): f()          # warm up
        res = {}
        for f in (stream, memory, stream, memory):
            t = time.perf_counter(); f(); res.setdefault(f.__name__, []).append(time.perf_counter() - t)
        ts, tm = min(res["stream"]), min(res["memory"])
        print(f"batches of {a.batch_size}: streamed {a.n/ts:8.0f} pairs/s, in memory {a.n/tm:8.0f} pairs/s, "
              f"ratio streamed/in-memory = {tm/ts:.2f}")
        print(f"CAE training consumes ~6 pairs/s on a 2-core CPU: the loader is {a.n/ts/6:.0f}x faster than needed")


if __name__ == "__main__":
    main()
