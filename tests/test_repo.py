"""Repository hygiene that CI must enforce: exported modules in sync, notebooks clean,
and CI running exactly the README's commands."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    "The commands of the README's quick-start block, in order."
    text = (ROOT/"README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [l.strip() for l in block.splitlines() if l.strip() and not l.strip().startswith("#")]


def test_readme_starts_with_two_commands_and_ci_runs_them():
    install, tests = readme_commands()
    ci = (ROOT/".ci"/"run").read_text()
    setup = install.split(" && ")
    assert setup[0] == "python3 -m venv .venv" and setup[1] == '.venv/bin/pip install -e ".[dev]"'
    for step in setup[:2]: assert step in ci, step
    assert ci.rstrip().splitlines()[-1] == tests, "the last line of .ci/run must be the README's test command"


def test_exported_modules_are_in_sync(tmp_path):
    shutil.copytree(ROOT/"nbs", tmp_path/"nbs", ignore=shutil.ignore_patterns(".*", "_*"))
    shutil.copy(ROOT/"pyproject.toml", tmp_path)
    (tmp_path/"survey2survey").mkdir()
    shutil.copy(ROOT/"survey2survey"/"__init__.py", tmp_path/"survey2survey")
    subprocess.run([BIN/"nbdev-export"], cwd=tmp_path, check=True, capture_output=True)
    ours = {p.relative_to(ROOT/"survey2survey"): p.read_text() for p in (ROOT/"survey2survey").rglob("*.py")}
    fresh = {p.relative_to(tmp_path/"survey2survey"): p.read_text() for p in (tmp_path/"survey2survey").rglob("*.py")}
    assert sorted(ours) == sorted(fresh), "modules without a notebook, or notebooks not exported"
    stale = [str(k) for k in ours if ours[k] != fresh[k]]
    assert not stale, f"run nbdev-export: {stale} differ from their notebooks"


@pytest.mark.parametrize("nb", sorted((ROOT/"nbs").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_clean(nb):
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    raw, cleaned = json.loads(nb.read_text()), json.loads(nb.read_text())
    clean_nb(cleaned, cfg.clear_all, cfg.get("allowed_metadata_keys") or [], cfg.get("allowed_cell_metadata_keys") or [],
             cfg.clean_ids, cfg.get("allowed_out_metadata_keys") or [])
    assert raw == cleaned, f"run nbdev-clean on {nb.name}"
