"""Translation of user cutouts: images/s for JPEG in -> PNG + FITS out, and where the time goes.

    python benchmarks/bench_images.py [--model NAME ...] [--n 64] [--size 150] [--batch-size 16]

Writes `--n` JPEG cutouts (a noisy galaxy-like blob, `--size` pixels, quality 75 like the
SkyServer's `getjpeg`), then runs `survey2survey.images.translate_images` on the folder once to
warm up (Keras traces the network for the batch shapes) and once timed into a fresh output
folder. Prints images/s over the whole run and the shares of its wall time spent reading
(hashing + decoding + checks), in the network, writing (PNG + FITS, each fsynced), and the
rest (the CSV after each batch, bookkeeping), all measured within the one run.

Without `--model` it times untrained networks of the shipped architectures (the paper's
CAE, Table 1; the U-Net of the efficient CycleGAN preset: depth 5, 32 filters): the weights
do not change the time. `--model` takes model names or run folders instead.
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")

import numpy as np


def untrained(folder:Path, model:str, size:int) -> Path:
    "A run folder holding an untrained network of the shipped architecture (what `load_model` reads)."
    from survey2survey.cae import build_cae
    from survey2survey.cyclegan import build_generator
    from survey2survey.core import MODEL_FILE, MODEL_META
    net = build_cae(size) if model == "cae" else build_generator(size, depth=5, filters=32, max_filters=256)
    run = folder/f"{model}-untrained"
    run.mkdir(parents=True)
    net.save(run/MODEL_FILE)
    (run/MODEL_META).write_text(json.dumps(dict(format="survey2survey-model", model=model, preset="untrained",
                                                input=dict(image_shape=[size, size, 3]))))
    return run


def cutouts(folder:Path, n:int, size:int):
    "`n` JPEG cutouts of a noisy elliptical blob, as 8-bit RGB at quality 75."
    from PIL import Image
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - (size - 1)/2
    folder.mkdir(parents=True)
    for i in range(n):
        r = rng.uniform(4, 12)
        blob = np.exp(-((xx/r)**2 + (yy/(0.7*r))**2)/2)[..., None] * rng.uniform(0.5, 1, 3)
        x = np.clip(0.6*blob + rng.normal(0.05, 0.03, (size, size, 3)), 0, 1)
        Image.fromarray(np.round(x*255).astype(np.uint8)).save(folder/f"cutout{i:05d}.jpg", quality=75)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", help="model names or run folders (default: untrained CAE and U-Net of the shipped architectures)")
    p.add_argument("--n", type=int, default=64, help="cutouts (default: 64)")
    p.add_argument("--size", type=int, default=150, help="cutout side, pixels (default: 150, the paper's)")
    p.add_argument("--batch-size", type=int, default=16)
    a = p.parse_args()
    from survey2survey.images import translate_images
    from survey2survey.translate import load_model

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cutouts(d/"in", a.n, a.size)
        cutouts(d/"warm", a.batch_size + 1, a.size)   # a full batch and a last one of 1: both shapes traced
        models = a.model or [untrained(d, m, a.size) for m in ("cae", "cyclegan")]
        for i, m in enumerate(models):
            model = load_model(m)
            translate_images(model, d/"warm", d/f"warm-out{i}", batch_size=a.batch_size)
            t0 = time.perf_counter()
            table = translate_images(model, d/"in", d/f"out{i}", batch_size=a.batch_size)
            total = time.perf_counter() - t0
            assert (table.status == "ok").all() and table.attrs["counts"]["done"] == a.n
            t = table.attrs["timing"]
            rest = total - sum(t.values())
            print(f"{model[1]['model']:8s} ({Path(model[1]['path']).name}): {a.n} JPEG {a.size}x{a.size} -> PNG + FITS: "
                  f"{a.n/total:6.1f} images/s ({total:.1f} s); network {t['network']/total:4.0%}, reading {t['read']/total:4.0%}, "
                  f"writing {t['write']/total:4.0%}, other {rest/total:4.0%}")


if __name__ == "__main__":
    main()
