"""Runs the `survey2survey` command line in-process and SIGKILLs it at a chosen training batch.

    S2S_DIE_AT_BATCH=E:I python train_runner.py [survey2survey arguments...]

The process kills itself when `PairDataset` is asked for training batch I of epoch
index E (0-based), so `test_train.py` kills a run in the middle of a chosen epoch,
whatever the machine's speed.
"""
import os
import signal
import sys

from survey2survey.cli import main
from survey2survey.loader import PairDataset

DIE_AT = os.environ["S2S_DIE_AT_BATCH"]
_getitem = PairDataset.__getitem__


def getitem(self, i):
    if self.split == "train" and f"{self.epoch}:{i}" == DIE_AT: os.kill(os.getpid(), signal.SIGKILL)
    return _getitem(self, i)


if __name__ == "__main__":
    PairDataset.__getitem__ = getitem
    sys.exit(main(sys.argv[1:]))
