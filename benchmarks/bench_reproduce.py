"""Per-step cost of `survey2survey reproduce`, and the projected time of the `quick` preset.

    python benchmarks/bench_reproduce.py [--n 16] [--preset quick]

Measures, in one process on a toy store of `n` 150x150 pairs, after a warm-up that
compiles each step: seconds per image of a training step of the CAE and of the CycleGAN
(with the preset's training settings), of translating with each, and of evaluating one
validation image (all four sets) and one external image (three sets); and pairs/s and
external images/s of the simulation. Each rate is printed by wall clock and by this
process's CPU time (all threads): on a shared machine the CPU-time rate says what the code
costs, and a wall rate far below CPU rate / cores means other processes took the cores.

Then it projects every step of `reproduce --preset <preset>` from the preset's sizes
(`survey2survey.scene.PRESETS`, `survey2survey.train.PRESETS`,
`survey2survey.reproduce.SIZES`) as CPU seconds and as wall time on the cores this
process may use (assuming they parallelise perfectly, an optimistic bound: measure the real
run with `survey2survey reproduce --preset quick` on a quiet machine and read its report's
step table). The figure notebooks are not projected (about 10-20 s each: a kernel, imports).
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")


def timed(f, n, repeats=2):
    "Best (wall, cpu) seconds per item of `f()` over `repeats` calls that each handle `n` items."
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        f()
        best = min(best, ((time.perf_counter() - w)/n, (time.process_time() - c)/n))
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=32, help="toy training pairs (default 32)")
    p.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"))
    a = p.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {cores} CPUs")

    import numpy as np
    from survey2survey.evaluate import evaluate_chunk
    from survey2survey.loader import PairDataset
    from survey2survey.reproduce import SIZES
    from survey2survey.scene import PRESETS as SIM, preset_config, simulate_one
    from survey2survey.store import open_store
    from survey2survey.train import _build, make_config, predict, translator, write_toy_dataset
    import pandas as pd

    rates = {}
    with tempfile.TemporaryDirectory() as d:
        write_toy_dataset(Path(d)/"bench", n_train=a.n, n_val=1, n_external=0, image_size=150, chunk_size=32)
        store = open_store(Path(d)/"bench"/"pairs")
        rows = store.indices("train")
        x, y = store.read("sdss", rows), store.read("des", rows)
        for model in ("cae", "cyclegan"):
            cfg = make_config(model, a.preset)
            ds = PairDataset(store, split="train", batch_size=cfg.batch_size, seed=0)
            m = _build(cfg, 150, len(ds))
            fit = lambda: m.fit(ds, epochs=1, shuffle=False, verbose=0)
            fit()
            rates[f"train {model} (per image and epoch)"] = timed(fit, len(ds.rows))
            net = translator(m)
            predict(net, x, 16)
            rates[f"translate {model}"] = timed(lambda: predict(net, x, 16), len(x))
        meta = pd.DataFrame(dict(split="val", row=np.arange(len(x)), id=np.arange(len(x))))
        val = dict(sdss=x, des=y, cae=y, cyclegan=y)
        ext = dict(sdss=x, cae=y, cyclegan=y)
        evaluate_chunk(val, meta)
        rates["evaluate val image"] = timed(lambda: evaluate_chunk(val, meta), len(x))
        rates["evaluate external image"] = timed(lambda: evaluate_chunk(ext, meta), len(x))
    cfg = preset_config("smoke")
    simulate_one(cfg, 0, "pairs", 0), simulate_one(cfg, 0, "external", 0)     # warm-up: imports, caches
    rates["simulate pair"] = timed(lambda: [simulate_one(cfg, 0, "pairs", i) for i in range(8)], 8, 1)
    rates["simulate external image"] = timed(lambda: [simulate_one(cfg, 0, "external", i) for i in range(8)], 8, 1)

    print(f"\nseconds per image (best of 2, after a warm-up), {a.n} images:")
    for k, (w, c) in rates.items(): print(f"  {k:38s} wall {w:7.3f}   CPU {c:7.3f}")

    sim = {**SIM[a.preset], **SIZES[a.preset]}
    n_ext = sim["n_external"]
    n_pairs = sim["n_train"] + sim["n_val"]
    steps = {"simulate": n_pairs*rates["simulate pair"][1] + n_ext*rates["simulate external image"][1]}
    for model in ("cae", "cyclegan"):
        cfg = make_config(model, a.preset)
        n_tr = min(cfg.limit_train or sim["n_train"], sim["n_train"])
        n_va = min(cfg.limit_val or sim["n_val"], sim["n_val"])
        val = n_va*rates[f"translate {model}"][1] if model == "cae" else 0.0     # the CAE validates every epoch
        steps[f"train {model} ({cfg.epochs} epochs x {n_tr} images)"] = cfg.epochs*(n_tr*rates[f"train {model} (per image and epoch)"][1] + val)
        steps[f"translate {model} ({n_pairs} + {n_ext} images)"] = (n_pairs + n_ext)*rates[f"translate {model}"][1]
    steps[f"evaluate ({sim['n_val']} val + {n_ext} external)"] = sim["n_val"]*rates["evaluate val image"][1] + n_ext*rates["evaluate external image"][1]
    print(f"\nprojected `reproduce --preset {a.preset}` (CPU seconds; wall if the {cores} cores parallelise perfectly):")
    for k, c in steps.items(): print(f"  {k:52s} {c:8.0f} CPU-s  {c/cores/60:6.1f} min")
    tot = sum(steps.values())
    print(f"  {'total (without the figure notebooks, ~1-2 min)':52s} {tot:8.0f} CPU-s  {tot/cores/60:6.1f} min")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
