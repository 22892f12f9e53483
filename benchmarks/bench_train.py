"""CAE training throughput: streamed from the store vs in memory, and float32 vs bfloat16.

    python benchmarks/bench_train.py [--n 64] [--size 150] [--batch-size 16] [--repeats 3]

Trains the paper's CAE on a toy store of `n` pairs and prints images/s for

* the same model fed by `PairDataset` (streamed from disk, two-level shuffle) and by
  in-memory NumPy arrays — their ratio is the share of the training speed the loader
  keeps (goal: >= 0.95);
* float32 and mixed bfloat16 (`--precision bfloat16`), both streamed.

Each configuration is timed `repeats` times, interleaved with the others, after a
warm-up epoch that compiles the step; the best time of each is reported, so that
other processes on a shared machine disturb the ratios as little as possible. Runs
under whatever KERAS_BACKEND is set (TensorFlow by default).
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=64, help="training pairs (default 64)")
    p.add_argument("--size", type=int, default=150, help="image side (default 150, the paper's)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if a.n % a.batch_size: p.error("--n must be a multiple of --batch-size (no partial batch)")

    import keras
    from survey2survey.cae import build_cae, compile_cae
    from survey2survey.loader import PairDataset
    from survey2survey.store import open_store
    from survey2survey.train import write_toy_dataset

    with tempfile.TemporaryDirectory() as d:
        write_toy_dataset(Path(d)/"bench", n_train=a.n, n_val=1, n_external=0, image_size=a.size, chunk_size=32)
        store = open_store(Path(d)/"bench"/"pairs")
        ds = PairDataset(store, split="train", batch_size=a.batch_size, seed=0)
        rows = store.indices("train")
        x, y = store.read("sdss", rows), store.read("des", rows)

        keras.utils.set_random_seed(0)
        fp32 = compile_cae(build_cae(a.size))
        bf16 = compile_cae(build_cae(a.size, dtype="mixed_bfloat16"))
        runs = {
            "float32, streamed (PairDataset)": lambda: fp32.fit(ds, epochs=1, shuffle=False, verbose=0),
            "float32, in memory (NumPy arrays)": lambda: fp32.fit(x, y, batch_size=a.batch_size, epochs=1, shuffle=False, verbose=0),
            "bfloat16, streamed (PairDataset)": lambda: bf16.fit(ds, epochs=1, shuffle=False, verbose=0),
        }
        for f in runs.values(): f()          # compile
        best = {k: float("inf") for k in runs}
        for _ in range(a.repeats):
            for k, f in runs.items():
                t = time.perf_counter(); f(); best[k] = min(best[k], time.perf_counter() - t)

    print(f"CAE ({a.size}x{a.size}, {a.n} pairs, batch {a.batch_size}, backend {keras.backend.backend()}), best of {a.repeats}:")
    for k, t in best.items(): print(f"  {k:36s} {a.n/t:8.2f} images/s")
    s, m, b = (best[k] for k in runs)
    print(f"streamed / in-memory throughput = {m/s:.3f}   (goal >= 0.95)")
    print(f"bfloat16 / float32 throughput   = {s/b:.3f}")


if __name__ == "__main__":
    main()
