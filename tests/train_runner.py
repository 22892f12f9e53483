"""Runs the `survey2survey` command line in-process, announcing each training batch.

    python train_runner.py [survey2survey arguments...]

Prints `batch E:I` (epoch index E, batch I) to stdout when `PairDataset` serves a
training batch, and then sleeps `S2S_BATCH_SLEEP` seconds, so that `test_train.py` can
SIGKILL the run in the middle of a chosen epoch.
"""
import os
import sys
import time

from survey2survey.cli import main
from survey2survey.loader import PairDataset

SLEEP = float(os.environ.get("S2S_BATCH_SLEEP", "0"))
_getitem = PairDataset.__getitem__


def announce(self, i):
    batch = _getitem(self, i)
    if self.split == "train":
        print(f"batch {self.epoch}:{i}", flush=True)
        time.sleep(SLEEP)
    return batch


if __name__ == "__main__":
    PairDataset.__getitem__ = announce
    sys.exit(main(sys.argv[1:]))
