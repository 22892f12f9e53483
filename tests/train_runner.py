"""Runs the `survey2survey` command line in-process, announcing each training batch.

    python train_runner.py [survey2survey arguments...]

Prints `batch E:I` (epoch index E, batch I) to stdout when `PairDataset` serves a
training batch, and then sleeps `S2S_BATCH_SLEEP` seconds, so that `test_train.py` can
SIGKILL the run in the middle of a chosen epoch. With `S2S_DIE_AT_STEP=K` the process
SIGKILLs itself as soon as training step K has ended (after any checkpoint of that
step): a kill at a known point, not at a time.
"""
import os
import signal
import sys
import time

from survey2survey.cli import main
from survey2survey.loader import PairDataset
from survey2survey.train import Checkpointer

SLEEP = float(os.environ.get("S2S_BATCH_SLEEP", "0"))
DIE_AT = int(os.environ.get("S2S_DIE_AT_STEP", "0"))
_getitem = PairDataset.__getitem__
_batch_end = Checkpointer.on_train_batch_end


def announce(self, i):
    batch = _getitem(self, i)
    if self.split == "train":
        print(f"batch {self.epoch}:{i}", flush=True)
        time.sleep(SLEEP)
    return batch


def die_at(self, batch, logs=None):
    _batch_end(self, batch, logs)
    if self.step == DIE_AT: os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    PairDataset.__getitem__ = announce
    if DIE_AT: Checkpointer.on_train_batch_end = die_at
    sys.exit(main(sys.argv[1:]))
