"""The documentation site builds: every notebook passes nbdev's docs processing, and every export is documented.

`nbdev-docs` (`.github/workflows/deploy.yaml`) first runs `nbdev-proc-nbs`, which executes each
notebook's export cells, cells containing imports and `show_doc` cells — not the others — so a
cell that mixes an import with code needing an unexecuted cell breaks the site. These tests run
the same processors (`tools/docs_pages.py --proc-only`, in one process) into a temporary folder.
"""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/"tools"))
from docs_pages import notebooks  # noqa: E402

NOTEBOOKS = notebooks()


def proc_nbs(nbs, out) -> dict:
    "Process the notebooks in `nbs` into `out/_proc`; {notebook: error} for those that fail."
    r = subprocess.run([sys.executable, str(ROOT/"tools"/"docs_pages.py"), "--proc-only", "--nbs", str(nbs), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert (Path(out)/"errors.json").exists(), r.stderr[-3000:]
    return json.loads((Path(out)/"errors.json").read_text())


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    return out/"_proc", proc_nbs(ROOT/"nbs", out)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_docs_processing(nb, pages):
    proc, errors = pages
    assert nb.name not in errors, f"nbdev's docs processing (nbdev-proc-nbs) fails on {nb.name}: {errors[nb.name]}"
    assert (proc/nb.name).exists()


def _nb(cells):
    return dict(nbformat=4, nbformat_minor=5, metadata={}, cells=[
        dict(cell_type="markdown" if s.startswith("# ") else "code", id=f"c{i}", metadata={}, source=s,
             **({} if s.startswith("# ") else dict(outputs=[], execution_count=None)))
        for i, s in enumerate(cells)])


def test_a_mixed_import_cell_fails(tmp_path):
    "The check can fail: an import cell that also uses a name from a cell the processor skips."
    head = ["# Scratch", '#| export\ndef double(x):\n    "Twice `x`."\n    return 2*x', "y = double(2)"]
    (tmp_path/"nbs").mkdir()
    (tmp_path/"nbs"/"bad.ipynb").write_text(json.dumps(_nb(head + ["import math\nprint(math.sqrt(y))"])))
    (tmp_path/"nbs"/"good.ipynb").write_text(json.dumps(_nb(head + ["import math", "print(math.sqrt(y))"])))
    errors = proc_nbs(tmp_path/"nbs", tmp_path/"out")
    assert list(errors) == ["bad.ipynb"], errors
    assert errors["bad.ipynb"].startswith("bad.ipynb cell 3 (id c3): ") and "NameError: name 'y' is not defined" in errors["bad.ipynb"]


def exports():
    "(notebook, name, docstring) of every exported public function and class of the package."
    for py in sorted((ROOT/"survey2survey").glob("*.py")):
        src = py.read_text()
        nb = re.search(r"File to edit: \.\./nbs/(\S+\.ipynb)", src)
        if not nb: continue
        tree = ast.parse(src)
        public = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                       and any(getattr(t, "id", None) == "__all__" for t in n.targets)), [])
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name in public:
                yield nb.group(1), n.name, ast.get_docstring(n)


def _plain(md):
    "Markdown without nbdev's links (`[`x`](url)` -> `x`), on one line."
    return " ".join(re.sub(r"\[(`[^`]+`)\]\([^)]*\)", r"\1", md).split())


def shown_docs(page):
    "The `show_doc` outputs of a processed page, by the name in their heading."
    docs = {}
    for c in json.loads(page.read_text())["cells"]:
        for o in c.get("outputs", []):
            md = "".join(o.get("data", {}).get("text/markdown", ""))
            if m := re.search(r"^#+ (\S+)\s*$", md, re.M): docs[m.group(1)] = md
    return docs


def test_every_export_is_documented(pages):
    proc, errors = pages
    found, missing = 0, []
    shown = {}
    for nb, name, doc in exports():
        if nb in errors: continue          # reported by test_docs_processing
        shown.setdefault(nb, shown_docs(proc/nb))
        md = shown[nb].get(name)
        found += 1
        if not doc: missing.append(f"{nb}: {name} has no docstring")
        elif md is None: missing.append(f"{nb}: {name} is not shown (no show_doc output)")
        elif not re.search(rf"```python\n(def|class) {re.escape(name)}\(", md): missing.append(f"{nb}: {name} shown without its signature")
        elif _plain(doc.splitlines()[0]) not in _plain(md): missing.append(f"{nb}: {name} shown without its docstring")
    assert found > 100, found
    assert not missing, "exports not documented on the site:\n" + "\n".join(missing)


def test_sidebar_lists_the_notebooks_in_numbered_order_with_titles(pages, capsys, monkeypatch):
    "The site's sidebar is nbdev's (`nbdev-docs` writes `nbs/sidebar.yml`): the notebooks by number, shown by title."
    from nbdev.config import get_config
    from nbdev.quarto import nbdev_sidebar
    proc, _ = pages
    monkeypatch.chdir(ROOT)
    assert not get_config().custom_sidebar
    nbdev_sidebar.__wrapped__(path=ROOT/"nbs", printit=True)
    listed = yaml.safe_load(capsys.readouterr().out)["website"]["sidebar"]["contents"]
    numbered = sorted(p.name for p in NOTEBOOKS if p.stem != "index")
    assert listed == ["index.ipynb"] + numbered and all(re.match(r"\d\d", n) for n in numbered), listed
    for name in listed:
        raw = [c for c in json.loads((proc/name).read_text())["cells"] if c["cell_type"] == "raw"]
        fm = yaml.safe_load("".join(raw[0]["source"]).strip().strip("-")) if raw else {}
        assert fm.get("title") and not re.match(r"\d", fm["title"]), f"{name}: no readable title ({fm})"


def test_landing_page_has_the_readmes_quick_start_and_figures():
    readme = (ROOT/"README.md").read_text()
    index = "\n".join("".join(c["source"]) for c in json.loads((ROOT/"nbs"/"index.ipynb").read_text())["cells"])
    quick_start = re.search(r"## Quick start\n\n.*?```bash\n.*?```", readme, re.S).group(0)
    assert quick_start in index, "nbs/index.ipynb's quick start differs from the README's"
    figures = re.findall(r"\]\(nbs/(images/[^)\s]+)\)", readme)
    assert len(figures) >= 2, figures
    for f in figures: assert f"]({f})" in index and (ROOT/"nbs"/f).exists(), f
