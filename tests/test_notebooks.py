"""Run every notebook in nbs/ as a test, as `nbdev-test` would, but under pytest.

Cells carrying a flag from `tst_flags` in pyproject.toml (`notest slow net gpu`) are
skipped unless the flag is forced with `pytest --flags "slow"`.
"""
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

from conftest import forced_flags

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT/"nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, request):
    cfg = get_config(ROOT)
    skip = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
    ok, secs = run_notebook(nb, skip_flags=skip, force_flags=forced_flags(request.config),
                            basepath=ROOT, cell_timeout=cfg.cell_timeout)
    assert ok, f"{nb.name} failed (the failing cell and its traceback are printed above)"
