"""Learning curves of training recipes, on work done rather than on wall-clock time.

    python benchmarks/recipe_curves.py [--data sim-quick-seed0] [--model cae] [--budget 1000] [--every 100]
                                       [--configs paper crop64 ...] [--out benchmarks/recipe_curves.csv]

Trains each recipe (`CONFIGS`) from the same seed on the same training pairs, and
every `every` full-image equivalents of work (pixels seen / 150², i.e. one 150×150 image,
or ~5.5 crops of 64×64) records the validation loss on whole validation images (MSE
against DES for the CAE, mean |G(x) − DES| for the CycleGAN). Quality is thus
measured against images and pixels seen, which other processes on a shared machine
do not change; the cost of a pixel in each recipe (crops vs whole images, bfloat16 vs
float32) is measured separately, all recipes timed in turn in one process
(`--throughput ROUNDS`, written to `<out>.throughput.json`), so the ratios are fair even
when the machine is shared. Writes one CSV row per measurement, appended as it goes.
"""
import argparse
import csv
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

FULL = 150 * 150
# recipe name -> (crop, augment, batch size, precision, optimiser options); the CAE's optimiser is Adadelta unless `adam`
CONFIGS = {
    "cae": {
        "paper": dict(crop=None, augment=False, batch_size=32, precision="float32", optimizer=dict(learning_rate=1.0)),
        "crop64": dict(crop=64, augment=True, batch_size=16, precision="float32", optimizer=dict(learning_rate=1.0)),
        "crop64-adam": dict(crop=64, augment=True, batch_size=16, precision="float32", optimizer=dict(adam=1e-3)),
        "crop64-bf16": dict(crop=64, augment=True, batch_size=16, precision="bfloat16", optimizer=dict(learning_rate=1.0)),
        "crop64-noaug": dict(crop=64, augment=False, batch_size=16, precision="float32", optimizer=dict(learning_rate=1.0)),
        "crop96": dict(crop=96, augment=True, batch_size=8, precision="float32", optimizer=dict(learning_rate=1.0)),
    },
    "cyclegan": {
        "paper": dict(crop=None, augment=False, batch_size=4, precision="float32", optimizer=dict(learning_rate=2e-4, beta_1=0.5)),
        "crop64": dict(crop=64, augment=True, batch_size=4, precision="float32", optimizer=dict(learning_rate=2e-4, beta_1=0.5)),
    },
}


def build(model, cfg, size, arch):
    import keras
    from survey2survey.cae import build_cae, compile_cae
    from survey2survey.cyclegan import build_cyclegan, compile_cyclegan
    from survey2survey.train import PRECISIONS
    dtype = PRECISIONS[cfg["precision"]]
    if model == "cae":
        m = build_cae(size, dtype=dtype)
        opt = dict(cfg["optimizer"])
        if "adam" in opt:
            m.compile(optimizer=keras.optimizers.Adam(opt["adam"]), loss="mse")
            return m
        return compile_cae(m, **opt)
    return compile_cyclegan(build_cyclegan(size, dtype=dtype, **arch), **cfg["optimizer"])


def whole_image_net(model, net, size, cfg, arch):
    "The translator at the validation images' size, with `net`'s weights."
    from survey2survey.train import PRECISIONS
    from survey2survey.cyclegan import build_generator
    if model == "cae": return net          # built for any size
    g = build_generator(size, dtype=PRECISIONS[cfg["precision"]], depth=arch["depth"], filters=arch["filters"],
                        max_filters=8*arch["filters"])
    g.set_weights(net.generator_g.get_weights())
    return g


def val_loss(model, net, x, y):
    import keras
    import numpy as np
    out = np.concatenate([keras.ops.convert_to_numpy(net(x[i:i + 16], training=False)) for i in range(0, len(x), 16)])
    d = out.astype(np.float64) - y
    return float((d**2).mean() if model == "cae" else np.abs(d).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="sim-quick-seed0", help="dataset name or path (its pairs store)")
    p.add_argument("--model", default="cae", choices=("cae", "cyclegan"))
    p.add_argument("--configs", nargs="+", help="recipes to run (default: all of the model's)")
    p.add_argument("--budget", type=float, default=1000, help="work per recipe, in full-image equivalents")
    p.add_argument("--every", type=float, default=100, help="validate every this many full-image equivalents")
    p.add_argument("--n-val", type=int, default=64, help="validation images (whole, 150x150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throughput", type=int, default=0, metavar="ROUNDS", help="only time each recipe's step, ROUNDS rounds in turn (no curves)")
    p.add_argument("--steps", type=int, default=3, help="steps per recipe and round of --throughput")
    p.add_argument("--out", default="benchmarks/recipe_curves.csv")
    a = p.parse_args()

    import keras
    import numpy as np
    from survey2survey.loader import PairDataset
    from survey2survey.train import find_pairs
    store = find_pairs(a.data)
    size = store.image_shape[0]
    vrows = store.indices("val")[:a.n_val]
    xv, yv = store.read("sdss", vrows), store.read("des", vrows).astype(np.float64)
    arch = dict(depth=5, filters=32)
    names = a.configs or list(CONFIGS[a.model])
    out = Path(a.out)
    new = not out.exists()

    if a.throughput:
        nets, data = {}, {}
        for n in names:
            cfg = CONFIGS[a.model][n]
            keras.utils.set_random_seed(a.seed)
            nets[n] = build(a.model, cfg, None if a.model == "cae" else cfg["crop"] or size, arch)
            data[n] = PairDataset(store, batch_size=cfg["batch_size"], seed=a.seed, crop=cfg["crop"], augment=cfg["augment"])[0]
            nets[n].train_on_batch(*data[n])          # compile
        best = {n: float("inf") for n in names}
        for _ in range(a.throughput):
            for n in names:
                t = time.perf_counter()
                for _ in range(a.steps): nets[n].train_on_batch(*data[n])
                best[n] = min(best[n], (time.perf_counter() - t) / a.steps)
        px = {n: best[n] / (CONFIGS[a.model][n]["batch_size"] * (CONFIGS[a.model][n]["crop"] or size)**2) for n in names}
        ref = px[names[0]]
        res = {n: dict(s_per_step=best[n], s_per_full_image=px[n]*FULL, cost_vs_first=px[n]/ref) for n in names}
        print(json.dumps(res, indent=1))
        out.with_suffix(".throughput.json").write_text(json.dumps(dict(model=a.model, reference=names[0], rounds=a.throughput,
                                                                       steps=a.steps, recipes=res), indent=1))
        return

    for n in names:
        cfg = CONFIGS[a.model][n]
        keras.utils.set_random_seed(a.seed)
        net = build(a.model, cfg, None if a.model == "cae" else cfg["crop"] or size, arch)
        ds = PairDataset(store, batch_size=cfg["batch_size"], seed=a.seed, crop=cfg["crop"], augment=cfg["augment"], drop_remainder=True)
        per_step = cfg["batch_size"] * (cfg["crop"] or size)**2 / FULL
        stream, work, step, next_val, t0 = batches(ds), 0.0, 0, 0.0, time.perf_counter()
        while True:
            if work >= next_val - 1e-9:
                v = val_loss(a.model, whole_image_net(a.model, net, size, cfg, arch), xv, yv)
                row = dict(model=a.model, recipe=n, step=step, images=step*cfg["batch_size"], full_equiv=round(work, 2), val=v,
                           wall_s=round(time.perf_counter() - t0, 1), crop=cfg["crop"] or size, augment=cfg["augment"],
                           batch_size=cfg["batch_size"], precision=cfg["precision"], optimizer=json.dumps(cfg["optimizer"]))
                with open(out, "a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(row))
                    if new: w.writeheader(); new = False
                    w.writerow(row)
                print(row, flush=True)
                next_val += a.every
                if work >= a.budget - 1e-9: break
            net.train_on_batch(*next(stream)); step += 1; work += per_step


def batches(ds):
    "Every batch of `ds`, epoch after epoch, each epoch in its own order."
    epoch = 0
    while True:
        ds.set_epoch(epoch)
        for j in range(len(ds)): yield ds[j]
        epoch += 1


if __name__ == "__main__":
    main()
