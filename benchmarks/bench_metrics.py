"""Speed of the metrics, measured in one run on the same data.

    python benchmarks/bench_metrics.py [--pairs 1000] [--skip-paper] [--data DIR] [--n-train 5000]

1. SSIM decomposition: `survey2survey.metrics.ssim_decomposition` (means of l, c, s and
   MSSIM) against a per-image loop of `skimage.metrics.structural_similarity` (MSSIM
   only) on the same image pairs (simulated SDSS and DES galaxies, brightness beta).
   Ours runs with its default threads (one per CPU) and with one thread. Prints the
   times, the ratios and the largest |MSSIM difference|. The runs alternate, twice
   each, and the faster run of each is kept, so that a burst of load on a shared
   machine does not favour any.
2. A paper-sized evaluation: a synthetic dataset with the paper's evaluated sizes (538
   validation pairs, 25,076 external images, two stand-in models: every comparison;
   `--n-train 5000` adds the training pairs to the pairs store) is written (once: pass
   `--data DIR` to keep and reuse it; it takes ~15 GB: noisy images compress poorly), then `survey2survey evaluate` runs on it in a subprocess with the
   paper's bootstrap (1000 resamples of 50 and 2,500). Prints its wall time, images
   per second and the subprocess' peak RSS.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

import numpy as np


def bench_ssim(n_pairs):
    from skimage.metrics import structural_similarity
    from survey2survey.evaluate import _synthetic_chunk
    from survey2survey.metrics import beta, ssim_decomposition
    xs, ys = [], []
    for i in range(-(-n_pairs // 100)):
        im, _ = _synthetic_chunk(0, "pairs", i, slice(0, 100), 150)
        xs.append(beta(im["sdss"])); ys.append(beta(im["des"]))
    x, y = np.concatenate(xs)[:n_pairs], np.concatenate(ys)[:n_pairs]
    ssim_decomposition(x[:2], y[:2])            # compile (cached after the first run ever)

    def ours(): return ssim_decomposition(x, y)["mssim"]
    def ours_1_thread(): return ssim_decomposition(x, y, threads=1)["mssim"]
    def skimage_loop():
        return np.array([structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                               data_range=1) for a, b in zip(x, y)])
    times, out = {}, {}
    for f in (ours, ours_1_thread, skimage_loop)*2:
        t = time.perf_counter(); out[f.__name__] = f(); times.setdefault(f.__name__, []).append(time.perf_counter() - t)
    to, t1, ts = (min(times[k]) for k in ("ours", "ours_1_thread", "skimage_loop"))
    diff = max(np.abs(out[k] - out["skimage_loop"]).max() for k in ("ours", "ours_1_thread"))
    print(f"SSIM on {n_pairs} pairs of 150x150: batched decomposition {to:.2f} s ({to/n_pairs*1e3:.2f} ms/pair, l, c, s and MSSIM; "
          f"{os.cpu_count()} threads), one thread {t1:.2f} s, scikit-image loop {ts:.2f} s ({ts/n_pairs*1e3:.2f} ms/pair, MSSIM only)")
    print(f"  ratio skimage/ours = {ts/to:.1f}x (goal >= 3x; one thread: {ts/t1:.1f}x)   "
          f"max |MSSIM difference| = {diff:.1e} (goal <= 1e-6)")


def bench_paper(data, n_train, bootstrap):
    from survey2survey.evaluate import write_synthetic_dataset
    t = time.perf_counter()
    write_synthetic_dataset(data, n_train=n_train, n_val=538, n_external=25_076, seed=0)
    print(f"synthetic paper-sized dataset at {data}: ready in {time.perf_counter() - t:.0f} s "
          f"({sum(f.stat().st_size for f in Path(data).rglob('*') if f.is_file())/1e9:.1f} GB)")
    out = Path(data)/"evaluation-bench"
    shutil.rmtree(out, ignore_errors=True)
    exe = Path(sys.executable).parent/"survey2survey"
    t = time.perf_counter()
    subprocess.run([str(exe), "-q", "evaluate", str(data), "--out", str(out), "--bootstrap", str(bootstrap)],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024
    import pandas as pd
    pairs = pd.read_parquet(out/"pairs.parquet", columns=["split", "comparison"])
    n_img = (538*4 + 25_076*3)
    print(f"paper-sized evaluation: {wall:.0f} s wall (goal < 300 s), {n_img/wall:.0f} images/s, "
          f"{len(pairs)} comparison rows ({pairs.groupby('split').comparison.nunique().to_dict()} comparisons), "
          f"bootstrap {bootstrap} resamples; peak RSS of the evaluate process {rss:.0f} MB")
    t = time.perf_counter()
    subprocess.run([str(exe), "-q", "evaluate", str(data), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    print(f"  rerun of the finished evaluation: {time.perf_counter() - t:.1f} s (nothing to do)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=1000, help="image pairs for the SSIM comparison")
    p.add_argument("--skip-paper", action="store_true", help="only the SSIM comparison")
    p.add_argument("--data", help="folder for the paper-sized synthetic dataset (kept and reused); default a temporary one")
    p.add_argument("--n-train", type=int, default=0, help="training pairs in the synthetic pairs store (read with the validation rows of their chunks, not evaluated)")
    p.add_argument("--bootstrap", type=int, default=1000)
    a = p.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    bench_ssim(a.pairs)
    if a.skip_paper: return
    if a.data: bench_paper(Path(a.data), a.n_train, a.bootstrap)
    else:
        with tempfile.TemporaryDirectory() as d: bench_paper(Path(d)/"paper", a.n_train, a.bootstrap)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share these cores)")


if __name__ == "__main__":
    main()
