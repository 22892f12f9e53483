"""`survey2survey evaluate` run as a user would: end to end, killed and resumed."""
import json
import os
import signal
import subprocess
import time

import pandas as pd

from test_cli import EXE, cli


def test_evaluate_end_to_end_and_rerun(tmp_path):
    from survey2survey.evaluate import write_synthetic_dataset
    write_synthetic_dataset(tmp_path/"syn", n_train=4, n_val=6, n_external=10, chunk_size=4)
    r = cli("--data-root", str(tmp_path), "evaluate", "--bootstrap", "50")
    assert r.returncode == 0, r.stderr
    assert "Table 2:" in r.stdout and "Table 3:" in r.stdout and "| CycleGAN | " in r.stdout
    out = tmp_path/"syn"/"evaluation"
    pairs = pd.read_parquet(out/"pairs.parquet")
    assert len(pairs) == 6*6 + 10*3
    assert json.loads((out/"evaluation.json").read_text())["complete"]
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = cli("--data-root", str(tmp_path), "evaluate", "syn", "--bootstrap", "50")
    assert r.returncode == 0 and "up to date" in r.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp


def test_killed_evaluation_resumes(tmp_path):
    from survey2survey.evaluate import write_synthetic_dataset
    ds = write_synthetic_dataset(tmp_path/"syn", n_train=0, n_val=24, n_external=64, chunk_size=4)
    parts = ds/"killed"/"_parts"
    p = subprocess.Popen([EXE, "evaluate", str(ds), "--out", str(ds/"killed"), "--bootstrap", "20"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and len(list(parts.glob("*.json"))) < 3: time.sleep(0.01)
    killed = p.poll() is None
    if killed: os.kill(p.pid, signal.SIGKILL)
    p.wait()
    if killed:
        m = json.loads((ds/"killed"/"evaluation.json").read_text())
        assert not m["complete"] and not (ds/"killed"/"pairs.parquet").exists()
        done = len(list(parts.glob("*.json")))
        assert 3 <= done < 22, done
    r = cli("evaluate", str(ds), "--out", str(ds/"killed"), "--bootstrap", "20")
    assert r.returncode == 0, r.stderr
    if killed: assert "resuming" in r.stderr
    r = cli("evaluate", str(ds), "--out", str(ds/"fresh"), "--bootstrap", "20")
    assert r.returncode == 0, r.stderr
    for name in ("images.parquet", "pairs.parquet", "profiles.parquet", "quartiles.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(ds/"killed"/name), pd.read_parquet(ds/"fresh"/name))
    assert (ds/"killed"/"table2.md").read_text() == (ds/"fresh"/"table2.md").read_text()
