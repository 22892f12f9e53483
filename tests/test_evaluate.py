"""`survey2survey evaluate` run as a user would: end to end, killed and resumed."""
import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd

from test_cli import cli

HERE = Path(__file__).parent


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
    "SIGKILLed just before its 4th unit (of 22) is recorded: 3 units stay, no table is written, the rerun resumes and equals a fresh run."
    from survey2survey.evaluate import write_synthetic_dataset
    ds = write_synthetic_dataset(tmp_path/"syn", n_train=0, n_val=24, n_external=64, chunk_size=4)
    parts = ds/"killed"/"_parts"
    p = subprocess.run([sys.executable, str(HERE/"die_runner.py"), "4", "evaluate", str(ds), "--out", str(ds/"killed"), "--bootstrap", "20"],
                       capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    m = json.loads((ds/"killed"/"evaluation.json").read_text())
    assert not m["complete"] and not (ds/"killed"/"pairs.parquet").exists()
    assert len(list(parts.glob("*.json"))) == 3
    r = cli("evaluate", str(ds), "--out", str(ds/"killed"), "--bootstrap", "20")
    assert r.returncode == 0, r.stderr
    assert "resuming, 3 of 22 chunks already done" in r.stderr, r.stderr
    r = cli("evaluate", str(ds), "--out", str(ds/"fresh"), "--bootstrap", "20")
    assert r.returncode == 0, r.stderr
    for name in ("images.parquet", "pairs.parquet", "profiles.parquet", "quartiles.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(ds/"killed"/name), pd.read_parquet(ds/"fresh"/name))
    assert (ds/"killed"/"table2.md").read_text() == (ds/"fresh"/"table2.md").read_text()
