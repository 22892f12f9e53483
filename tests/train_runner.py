"""Runs the `survey2survey` command line in-process and SIGKILLs it at a chosen point of training.

    S2S_DIE_AT_BATCH=E:I python train_runner.py [survey2survey arguments...]
    S2S_DIE_AT_STEP=K python train_runner.py [survey2survey arguments...]

With `S2S_DIE_AT_BATCH` the process kills itself when `PairDataset` is asked for
training batch I of epoch index E (0-based), so `test_train.py` kills a run in the
middle of a chosen epoch, whatever the machine's speed. With `S2S_DIE_AT_STEP` it kills
itself as soon as training step K has ended, after any checkpoint of that step.
"""
import os
import signal
import sys

from survey2survey.cli import main
from survey2survey.loader import PairDataset
from survey2survey.train import Checkpointer

DIE_AT_BATCH = os.environ.get("S2S_DIE_AT_BATCH")
DIE_AT_STEP = int(os.environ.get("S2S_DIE_AT_STEP", "0"))
_getitem = PairDataset.__getitem__
_batch_end = Checkpointer.on_train_batch_end


def getitem(self, i):
    if self.split == "train" and f"{self.epoch}:{i}" == DIE_AT_BATCH: os.kill(os.getpid(), signal.SIGKILL)
    return _getitem(self, i)


def die_at_step(self, batch, logs=None):
    _batch_end(self, batch, logs)
    if self.step == DIE_AT_STEP: os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    if DIE_AT_BATCH: PairDataset.__getitem__ = getitem
    if DIE_AT_STEP: Checkpointer.on_train_batch_end = die_at_step
    sys.exit(main(sys.argv[1:]))
