"""Runs distributed translations and evaluations on one local Dask cluster, for `test_distributed.py`.

    python dask_runner.py DATA_ROOT STEP [STEP ...] [--workers N] [--slow SECONDS]

STEP is `translate:MODEL:INPUT:OUTPUT` or `evaluate:DATASET:OUT`. Prints `pids [...]`
(the worker processes) once the cluster is up, then one JSON line per step: the
step's `last_run()` summary, the model loads per worker, and the deep-learning libraries
the client process has imported (none: the workers load the model). `--slow S` makes every
chunk translation sleep S seconds first (a worker plugin), so that the test can kill a
worker, or the whole run, in the middle.
"""
import argparse
import json
import os
import sys

from distributed import WorkerPlugin

os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Slow(WorkerPlugin):
    "Slows `translate_chunk` down on every worker (also on a worker that replaces a dead one)."
    def __init__(self, seconds): self.seconds = seconds

    def setup(self, worker):
        import time
        import survey2survey.translate as tr
        real, s = tr.translate_chunk, self.seconds
        def slow(*a, **k):
            time.sleep(s)
            return real(*a, **k)
        tr.translate_chunk = slow


def loads():
    from survey2survey.distributed import LOADS
    return sum(LOADS.values())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("steps", nargs="+")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slow", type=float, default=0.0)
    a = p.parse_args()
    os.environ["SURVEY2SURVEY_DATA"] = a.root
    from survey2survey.distributed import client_for, evaluate_dask, last_run, translate_dask
    with client_for("local", workers=a.workers) as client:
        if a.slow: client.register_plugin(Slow(a.slow))
        print("pids", json.dumps(sorted(client.run(os.getpid).values())), flush=True)
        for step in a.steps:
            kind, *args = step.split(":")
            if kind == "translate": translate_dask(client, args[0], args[1], output=args[2])
            else: evaluate_dask(client, args[0], out=args[1], bootstrap=20, r_max_pix=10)
            heavy = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)   # in this (client) process
            print(json.dumps(dict(step=kind, **last_run(), loads=client.run(loads), client_imports=heavy)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
