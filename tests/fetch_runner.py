"""Runs the offline smoke fetch; `test_fetch.py` runs it in a subprocess and kills it.

    python fetch_runner.py OUT [--calls FILE] [--die-after-requests K] [--die-at-chunk K]

Every request's key is appended to FILE as it is sent. `--die-after-requests K`
SIGKILLs the process when request K+1 is about to be sent (K answers were received);
`--die-at-chunk K` SIGKILLs it just before the record of store chunk K is written.
"""
import argparse
import os
import signal
import sys

import survey2survey.store as store
from survey2survey.http import ReplayTransport, fixtures_dir
from survey2survey.fetch import fetch


class Counting(ReplayTransport):
    def __init__(self, folder, log, die_after):
        super().__init__(folder)
        self.log, self.die_after, self.n = log, die_after, 0

    def request(self, method, url, body=None, headers=None, timeout=None):
        if self.die_after is not None and self.n >= self.die_after: os.kill(os.getpid(), signal.SIGKILL)
        self.n += 1
        r = super().request(method, url, body, headers, timeout)
        if self.log:
            with open(self.log, "a") as f: f.write(self.calls[-1] + "\n")
        return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--calls")
    p.add_argument("--die-after-requests", type=int)
    p.add_argument("--die-at-chunk", type=int)
    a = p.parse_args()
    if a.die_at_chunk is not None:
        real = store._write_json
        def write_json(path, d):
            if path.name == f"chunk-{a.die_at_chunk:06d}.json": os.kill(os.getpid(), signal.SIGKILL)
            real(path, d)
        store._write_json = write_json
    fetch("smoke", out=a.out, transport=Counting(fixtures_dir("smoke"), a.calls, a.die_after_requests), rate_per_s=None, workers=1)
    print("done", flush=True)


if __name__ == "__main__":
    sys.exit(main())
