"""The documentation pages without Quarto: process the notebooks as `nbdev-proc-nbs` does, then preview them as HTML.

    python tools/docs_pages.py                        # every page -> _preview/*.html; open _preview/index.html
    python tools/docs_pages.py 01_store 42_viewer     # only these pages (names or globs)
    python tools/docs_pages.py --proc-only            # only the processing step (what tests/test_docs.py checks)

`nbdev-docs` is `nbdev-proc-nbs` (run each notebook's export, import and `show_doc` cells with
nbdev's processors and write `_proc/*.ipynb`) followed by Quarto. This runs the same processors
(`FilterDefaults`) on every notebook in one process, then turns the processed pages into HTML with
nbconvert instead of Quarto: the same text, `show_doc` signatures and docstrings, figures and outputs,
without Quarto's theme, search and cross-reference rendering (see the README's development section).
"""
import argparse, fnmatch, json, os, re, shutil, sys, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE_URL = "https://survey2survey.github.io/survey2survey/"


def notebooks(nbs=ROOT/"nbs", patterns=()):
    "The site's notebooks in the sidebar's order (`index` first, then by number), optionally only those matching `patterns`."
    found = sorted((p for p in Path(nbs).glob("*.ipynb") if not p.name.startswith(("_", "."))),
                   key=lambda p: "" if p.stem == "index" else p.name)
    if patterns:
        pats = [p if any(c in p for c in "*?[") else f"{Path(p).stem}*" for p in patterns]
        found = [p for p in found if any(fnmatch.fnmatch(p.name, q) for q in pats)]
    return found


def process(nb_path, dest):
    "Process one notebook as `nbdev-proc-nbs` does (`nbdev.serve_drv.main`) into `dest`."
    from fastcore.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults
    old = os.environ.get("IN_TEST")
    os.environ["IN_TEST"] = "1"
    try:
        nb = read_nb(nb_path)
        FilterDefaults()(nb)
    finally:
        if old is None: os.environ.pop("IN_TEST", None)
        else: os.environ["IN_TEST"] = old
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)


def process_all(dest, nbs=ROOT/"nbs", patterns=()):
    "Process the notebooks into `dest`; {notebook name: error} for those nbdev's processors reject."
    errors = {}
    for p in notebooks(nbs, patterns):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try: process(p, Path(dest)/p.name)
            except Exception as e: errors[p.name] = f"{_source_cell(p, str(e))}{type(e).__name__}: {e}"
    return errors


def _source_cell(nb_path, msg):
    "Where nbdev's error (which counts the cells of the processed page) is in the notebook itself."
    m = re.search(r" in cell \d+ :\n(.*)\n[^\n]*$", msg, re.S)
    if not m: return ""
    strip = lambda s: "\n".join(l for l in s.strip().splitlines() if not _directive.match(l)).strip()
    cells = json.loads(Path(nb_path).read_text())["cells"]
    hits = [(i, c.get("id")) for i, c in enumerate(cells) if strip("".join(c["source"])) == strip(m.group(1))]
    return "".join(f"{Path(nb_path).name} cell {i} (id {cid}): " for i, cid in hits[:1])


# --- the HTML preview -------------------------------------------------------------------------------

_directive = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def _frontmatter(cell):
    import yaml
    src = cell["source"]
    if cell["cell_type"] != "raw" or not src.startswith("---"): return None
    return yaml.safe_load(src.strip().strip("-")) or {}


def _md_links(text, pages):
    "Quarto-only Markdown out (`{target=...}` attributes), links to the site's pages made local."
    text = re.sub(r"\)\{[^}\n]*\}", ")", text)
    return re.sub(re.escape(SITE_URL) + r"([\w.-]+\.html)", lambda m: m.group(1) if m.group(1) in pages else m.group(0), text)


_CELL_KEYS = dict(code={"cell_type", "execution_count", "id", "metadata", "outputs", "source"},
                  markdown={"cell_type", "id", "metadata", "source", "attachments"},
                  raw={"cell_type", "id", "metadata", "source", "attachments"})


def quarto_like(nb, pages):
    "Apply what Quarto does with nbdev's output: title block, `#|` echo/output/include options, local links."
    import nbformat
    title, cells = None, []
    for c in nb.cells:
        fm = _frontmatter(c)
        if fm is not None:
            title = fm.get("title")
            head = f"# {title}\n\n" + (f"> {fm['description']}\n" if fm.get("description") else "")
            cells.append(nbformat.v4.new_markdown_cell(head))
            continue
        if c["cell_type"] == "markdown": c["source"] = _md_links(c["source"], pages)
        if c["cell_type"] == "code":
            lines = c["source"].splitlines()
            opts = dict(m.groups() for m in map(_directive.match, lines) if m)
            if opts.get("include") == "false": continue
            c["source"] = "\n".join(l for l in lines if not _directive.match(l)).strip()
            if opts.get("output") == "false": c["outputs"] = []
            if opts.get("echo") == "false": c.setdefault("metadata", {}).setdefault("tags", []).append("remove_input")
            for o in c.get("outputs", []):
                md = o.get("data", {}).get("text/markdown")
                if md: o["data"]["text/markdown"] = _md_links("".join(md), pages)
            if not c["source"] and not c.get("outputs"): continue
        c["metadata"] = {k: v for k, v in c.get("metadata", {}).items() if k == "tags"}
        cells.append(nbformat.NotebookNode({k: v for k, v in c.items() if k in _CELL_KEYS[c["cell_type"]]}))
    nb.cells = cells
    return title


def _nav(entries, current):
    items = "".join(f'<li{" class=current" if f == current else ""}><a href="{f}">{t}</a></li>' for f, t in entries)
    return ('<nav class="s2s-sidebar"><ul>' + items + "</ul></nav>"
            "<style>.s2s-sidebar{position:fixed;top:0;left:0;width:15rem;height:100%;overflow:auto;padding:1rem;"
            "font:14px/1.5 sans-serif;background:#f7f7f9;border-right:1px solid #ddd}.s2s-sidebar ul{list-style:none;padding:0}"
            ".s2s-sidebar .current a{font-weight:bold}body{margin-left:17rem!important}</style>")


def to_html(proc, out, nbs=ROOT/"nbs"):
    "Every processed page in `proc` as HTML in `out`, with a sidebar in the site's order; the pages written."
    import nbformat
    from nbconvert import HTMLExporter
    proc, out = Path(proc), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (Path(nbs)/"images").exists(): shutil.copytree(Path(nbs)/"images", out/"images", dirs_exist_ok=True)
    pages = []
    for p in notebooks(proc):
        nb = nbformat.read(p, as_version=4)
        fm = next((f for f in map(_frontmatter, nb.cells[:2]) if f is not None), {})
        pages.append((p, nb, fm.get("output-file") or f"{re.sub(r'^[0-9]+[a-z]?_', '', p.stem)}.html"))
    files = {f for _, _, f in pages}
    entries = []
    for p, nb, f in pages:
        entries.append((f, quarto_like(nb, files) or p.stem))
    from traitlets.config import Config
    cfg = Config()
    cfg.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    cfg.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(config=cfg, template_name="lab")
    written = []
    for (p, nb, f), (_, title) in zip(pages, entries):
        exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
        html, _ = exporter.from_notebook_node(nb, resources=dict(metadata=dict(name=title)))
        html = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _nav(entries, f), html, count=1)
        (out/f).write_text(html, encoding="utf-8")
        written.append(out/f)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="*", help="notebook names or globs (default: all)")
    ap.add_argument("--out", default=str(ROOT/"_preview"), help="output folder (default _preview/)")
    ap.add_argument("--nbs", default=str(ROOT/"nbs"), help="notebook folder (default nbs/)")
    ap.add_argument("--proc-only", action="store_true", help="only process the notebooks, into OUT/_proc; no HTML")
    a = ap.parse_args(argv)
    out, a.nbs = Path(a.out).resolve(), Path(a.nbs).resolve()
    os.chdir(ROOT)    # nbdev reads its settings from pyproject.toml
    proc = out/"_proc"
    if proc.exists(): shutil.rmtree(proc)
    errors = process_all(proc, a.nbs, a.pages)
    (out/"errors.json").write_text(json.dumps(errors, indent=1))
    for name, e in errors.items(): print(f"{name}: {e}\n", file=sys.stderr)
    if not a.proc_only:
        pages = to_html(proc, out, a.nbs)
        print(f"{len(pages)} pages in {out}; open {out/'index.html'}" if (out/"index.html").exists() else f"{len(pages)} pages in {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
