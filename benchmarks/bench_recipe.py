"""How much faster the `efficient` training recipe reaches the `paper` recipe's quality.

    python benchmarks/bench_recipe.py [--model cae] [--data sim-paper-seed0] [--minutes 30] [--n-val 128] [--every 1] [--paper-every 1]

Trains the `paper` preset's recipe (whole 150×150 images; for the CAE Adadelta 1.0 at
batch 32) for `minutes` of training time and records the lowest validation loss it
reached (on `n-val` whole validation images: MSE against DES for the CAE, mean
|G(x) − DES| for the CycleGAN), then trains the `efficient` preset's recipe (random
crops, flips and quarter turns) from the same seed until it reaches that loss, and
prints the ratio of the two times (the issue's goal: >= 4). Both run in this one
process with the networks, optimisers and data pipeline of `survey2survey.train`
(`make_config`, `_build`, `full_size`, `PairDataset`); validation is every `every`
minutes of training and is not counted as training time. Times are given as wall
clock and as this process's CPU time; on a shared machine the CPU-time ratio is the
one to trust. Writes the validation curve of both recipes to `--out` (CSV).
"""
import argparse
import csv
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

from recipe_curves import val_loss   # noqa: E402 (beside this script)


class Clock:
    "Training time only: wall clock and process CPU time, paused while validating."
    def __init__(self): self.wall = self.cpu = 0.0
    def __enter__(self): self._t = (time.perf_counter(), time.process_time()); return self
    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._t[0]; self.cpu += time.process_time() - self._t[1]


def run_recipe(model, preset, store, a, target=None, writer=None):
    """Train `preset`'s recipe; validate every `a.every` training minutes. Without `target`: for `a.minutes`, return the
    best loss. With it: until the loss is <= target (or `a.max_minutes`), return the training time it took."""
    import keras
    import numpy as np
    from survey2survey.loader import PairDataset
    from survey2survey.train import _build, full_size, make_config
    cfg = make_config(model, preset, seed=a.seed)
    size = store.image_shape[0]
    keras.utils.set_random_seed(a.seed)
    ds = PairDataset(store, batch_size=cfg.batch_size, seed=a.seed, crop=cfg.crop, augment=cfg.augment, limit=a.limit_train)
    m = _build(cfg, size, ds.steps_per_epoch)
    full = full_size(cfg, m, size)
    vrows = store.indices("val")[:a.n_val]
    xv, yv = store.read("sdss", vrows), store.read("des", vrows).astype(np.float64)
    clock, best, step, epoch, limit = Clock(), float("inf"), 0, 0, a.minutes if target is None else a.max_minutes
    every = a.paper_every if target is None else a.every
    next_val = 0.0
    while True:
        if clock.wall >= next_val*60:
            loss = val_loss(model, full(), xv, yv)
            best = min(best, loss)
            row = dict(recipe=preset, step=step, wall_min=clock.wall/60, cpu_min=clock.cpu/60, val=loss)
            print(json.dumps(row), flush=True)
            if writer: writer.writerow(row)
            if target is not None and loss <= target: return clock
            if clock.wall >= limit*60: return best if target is None else None
            next_val += every
        ds.set_epoch(epoch)
        with clock:
            for j in range(len(ds)):
                m.train_on_batch(*ds[j]); step += 1
                if clock.wall + time.perf_counter() - clock._t[0] >= next_val*60: break
            else: epoch += 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="cae", choices=("cae", "cyclegan"))
    p.add_argument("--data", default="sim-paper-seed0", help="dataset name or path (default: the paper simulation)")
    p.add_argument("--minutes", type=float, default=30, help="training time of the paper recipe (default 30)")
    p.add_argument("--max-minutes", type=float, help="give the efficient recipe at most this long (default: --minutes)")
    p.add_argument("--every", type=float, default=1, help="validate every this many training minutes (default 1)")
    p.add_argument("--paper-every", type=float, help="validate the paper recipe every this many training minutes (default: --every); "
                   "a finer --every then times the efficient recipe's crossing closely without the paper recipe's slower validations")
    p.add_argument("--n-val", type=int, default=128, help="whole validation images (default 128)")
    p.add_argument("--limit-train", type=int, help="train on the first N training pairs only (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench_recipe.csv", help="validation curves of both recipes (CSV)")
    a = p.parse_args()
    a.max_minutes = a.max_minutes or a.minutes
    a.paper_every = a.paper_every or a.every

    from survey2survey.train import find_pairs
    store = find_pairs(a.data)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["recipe", "step", "wall_min", "cpu_min", "val"]); w.writeheader()
        target = run_recipe(a.model, "paper", store, a, writer=w)
        print(f"paper recipe: best validation loss {target:.4g} after {a.minutes:g} training minutes")
        got = run_recipe(a.model, "efficient", store, a, target=target, writer=w)
    if got is None:
        print(f"efficient recipe: did not reach {target:.4g} within {a.max_minutes:g} minutes: speed-up < {a.minutes/a.max_minutes:.2f}x")
        return
    paper_cpu = [float(r["cpu_min"]) for r in csv.DictReader(open(a.out)) if r["recipe"] == "paper"][-1]
    print(f"efficient recipe: reached it after {got.wall/60:.2f} training minutes ({got.cpu/60:.2f} CPU minutes)")
    print(f"speed-up: {a.minutes/max(got.wall/60, 1e-9):.1f}x wall clock, {paper_cpu/max(got.cpu/60, 1e-9):.1f}x CPU time (goal: >= 4x)")


if __name__ == "__main__":
    main()
