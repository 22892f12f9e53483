"""Runs the `survey2survey` command line in-process and SIGKILLs it at a known point.

    python die_runner.py K [survey2survey arguments...]

The process kills itself just before the K-th completion record would be put in place: a
`_parts/*.json` file, which a store writes for each finished chunk and `evaluate` for each
finished unit. So exactly K-1 records exist when it dies, however fast the machine is:
what `test_simulate.py` and `test_evaluate.py` resume from.
"""
import os
import signal
import sys
from pathlib import Path

from survey2survey.cli import main

_replace, _records = os.replace, [0]


def replace(src, dst, *a, **k):
    "`os.replace` (every atomic write ends with it), dying before the K-th completion record."
    p = Path(dst)
    if p.parent.name == "_parts" and p.suffix == ".json":
        _records[0] += 1
        if _records[0] == int(sys.argv[1]): os.kill(os.getpid(), signal.SIGKILL)
    return _replace(src, dst, *a, **k)


if __name__ == "__main__":
    os.replace = replace
    sys.exit(main(sys.argv[2:]))
