"""Run every notebook in nbs/ as a test, as `nbdev-test` would, but under pytest.

Cells carrying a flag from `tst_flags` in pyproject.toml (`notest slow net gpu`) are
skipped unless the flag is forced with `pytest --flags "slow"`. The figure notebooks
(`9x_*.ipynb`, no flagged cells) run through `survey2survey.reproduce` instead, once per session.
"""
import re
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

from conftest import forced_flags

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT/"nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))


def readme_notebooks() -> dict:
    "The README's table of notebooks: stem (or number, for the `91`-`97` row) -> the module it names (`None` for `—`)."
    rows = re.findall(r"^\| `(\d\d[a-z]?(?:_\w+)?)`(?:–`(\d\d)`)? \| (`survey2survey\.\w+`|—) \|", (ROOT/"README.md").read_text(), re.M)
    out = {}
    for first, last, module in rows:
        module = module.strip("`") if module != "—" else None
        for n in (range(int(first), int(last) + 1) if last else [first]): out[str(n)] = module
    return out


def test_notebooks_are_those_the_readme_lists():
    "Every notebook is in the README's table (and found here), and exports the module the table names."
    table = readme_notebooks()
    stems = {p.stem for p in NOTEBOOKS if p.stem != "index"}
    assert {s if s in table else s[:2] for s in stems} == set(table), (sorted(stems), sorted(table))
    assert len(stems) == len(table), "one notebook per row (a range row: one per number)"
    for p in NOTEBOOKS:
        exp = re.search(r"#\| default_exp (\w+)", p.read_text())
        if p.stem != "index": assert table.get(p.stem, table.get(p.stem[:2])) == (exp and f"survey2survey.{exp[1]}"), p.name


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, request):
    if re.match(r"9\d_", nb.name):
        # A figure notebook runs as `survey2survey reproduce` runs it (papermill, its parameters, its output files), into
        # the smoke report folder of the session's data root: done once per session for the same inputs, whichever of
        # this test, `70_reproduce` and `tests/test_reproduce.py` comes first (the others find it done).
        from survey2survey.reproduce import default_out, ensure, figure_step
        inp = ensure("smoke")
        figure_step(nb, default_out(inp), inp)   # a failing cell raises `NotebookError`, naming it
        return
    cfg = get_config(ROOT)
    skip = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
    ok, secs = run_notebook(nb, skip_flags=skip, force_flags=forced_flags(request.config),
                            basepath=ROOT, cell_timeout=cfg.cell_timeout)
    assert ok, f"{nb.name} failed (the failing cell and its traceback are printed above)"
