"""Runs distributed translations and evaluations on one local Dask cluster, for `test_distributed.py`.

    python dask_runner.py DATA_ROOT STEP [STEP ...] [--workers N] [--gate FILE --stall-from K]

STEP is `translate:MODEL:INPUT:OUTPUT` or `evaluate:DATASET:OUT`. Prints `pids [...]`
(the worker processes) once the cluster is up, then one JSON line per step: the
step's `last_run()` summary, the model loads per worker, and the deep-learning libraries
the client process has imported (none: the workers load the model). `--gate FILE
--stall-from K` (a worker plugin) holds every chunk translation but chunk 0's until FILE
exists, and chunks K and later for good (a held task is handed back to the scheduler, `Reschedule`,
so it never blocks a worker), so that the test kills a worker, and then the
whole run, at known points: after chunk 0, and after exactly chunks 0 to K-1.
"""
import argparse
import json
import os
import sys

from distributed import Reschedule, WorkerPlugin

os.environ.setdefault("SURVEY2SURVEY_PROGRESS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Gate(WorkerPlugin):
    "Holds `translate_chunk` on every worker (also on a worker that replaces a dead one), as the module docstring says."
    def __init__(self, gate, stall_from): self.gate, self.stall_from = gate, stall_from

    def setup(self, worker):
        import time
        from pathlib import Path
        import survey2survey.translate as tr
        real, gate, stall_from = tr.translate_chunk, Path(self.gate), self.stall_from
        def held(net, name, src, writer, i, *a, **k):
            # a held chunk goes back to the scheduler instead of sleeping in the worker's only thread: two workers
            # sleeping on held chunks would starve the chunks the test waits for (it depends on Dask's task order)
            if i >= stall_from or (i > 0 and not gate.exists()):
                time.sleep(0.05)
                raise Reschedule()
            return real(net, name, src, writer, i, *a, **k)
        tr.translate_chunk = held


def loads():
    from survey2survey.distributed import LOADS
    return sum(LOADS.values())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("steps", nargs="+")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--gate")
    p.add_argument("--stall-from", type=int)
    a = p.parse_args()
    os.environ["SURVEY2SURVEY_DATA"] = a.root
    from survey2survey.distributed import client_for, evaluate_dask, last_run, translate_dask
    with client_for("local", workers=a.workers) as client:
        if a.gate: client.register_plugin(Gate(a.gate, a.stall_from))
        print("pids", json.dumps(sorted(client.run(os.getpid).values())), flush=True)
        for step in a.steps:
            kind, *args = step.split(":")
            if kind == "translate": translate_dask(client, args[0], args[1], output=args[2])
            else: evaluate_dask(client, args[0], out=args[1], bootstrap=20, r_max_pix=10)
            heavy = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)   # in this (client) process
            print(json.dumps(dict(step=kind, **last_run(), loads=client.run(loads), client_imports=heavy)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
