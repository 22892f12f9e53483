"""The installed `survey2survey` console script, run as a user would."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = shutil.which("survey2survey") or os.path.join(os.path.dirname(sys.executable), "survey2survey")


def cli(*args, env=None, **kw):
    e = {**os.environ, **(env or {})}
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=e, **kw)


def test_help_of_every_subcommand():
    r = cli("--help")
    assert r.returncode == 0 and "COMMAND" in r.stdout
    from survey2survey.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    documented = set(re.findall(r"^survey2survey (\w+)", (ROOT/"README.md").read_text(), re.M))   # the README's command lines
    assert set(sub.choices) == documented == {"info", "simulate", "fetch", "train", "translate", "models", "evaluate", "reproduce"}, sub.choices
    assert all(name in r.stdout for name in documented), r.stdout
    for name in sub.choices:
        h = cli(name, "--help")
        assert h.returncode == 0 and f"survey2survey {name}" in h.stdout, name


def test_info_lists_stores_in_the_data_root(tmp_path):
    from store_writer import make_chunk
    from survey2survey.store import create_store
    w = create_store(tmp_path/"toy", n=16, image_size=24, chunk_size=8)
    w.fill(make_chunk); w.close()
    r = cli("--data-root", str(tmp_path), "info", "--json", "--no-devices")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["data_root"] == str(tmp_path) and d["keras_backend"] == "tensorflow"
    assert [(s["name"], s["n"], s["state"]) for s in d["stores"]] == [("toy", 16, "complete")]


def test_info_lists_devices():
    r = cli("info")
    assert r.returncode == 0, r.stderr
    assert "devices: " in r.stdout and "cpu" in r.stdout.lower()


def test_info_validates_named_stores(tmp_path):
    r = cli("info", str(tmp_path/"nope"))
    assert r.returncode == 1 and "no such folder" in r.stdout


def test_unknown_backend_is_a_clear_error():
    r = cli("info", "--no-devices", env=dict(KERAS_BACKEND="theano"))
    assert r.returncode == 2
    assert "KERAS_BACKEND='theano' is not a Keras backend" in r.stderr and "Traceback" not in r.stderr
