"""The reproduction driver on the smoke preset: the manifest, skipping, a broken notebook, the report's numbers,
the shipped models' origin and refusal, and (the one end-to-end training test of the driver) `train=True`.

One smoke reproduction (module-scoped) is shared by the tests. It goes to the default output
folder in the session's data root, so what is already there for the same inputs is reused: the
dataset, models and evaluation (`ensure`) and the figure notebooks that `70_reproduce` and
`tests/test_notebooks.py` ran (`figure_step`: each notebook is executed once per session).
"""
import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from survey2survey.evaluate import load_evaluation
from survey2survey.reproduce import NotebookError, expected_files, figure_notebooks, reproduce

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    return reproduce("smoke", notebooks=ROOT/"nbs")


def _cells(line:str) -> list[str]:
    "The cells of a Markdown table row (`[]` for any other line)."
    return [c.strip() for c in line.strip().split("|")[1:-1]] if line.startswith("|") else []


def test_manifest(run):
    m = json.loads((run/"manifest.json").read_text())
    assert m["complete"] and not m["missing"], m["missing"]
    assert sorted(m["files"]) == sorted(expected_files())
    for f in expected_files(): assert (run/f).stat().st_size > 0, f
    assert len([f for f in expected_files() if f.startswith("figures/fig") and f.endswith(".png")]) == 13
    text = (run/"index.md").read_text()
    for k in range(1, 14): assert f"](figures/fig{k}.png)" in text, k
    titles = re.findall(r"^## (.+)$", text, re.M)
    assert titles.index("Fig 1") < titles.index("Table 1") < titles.index("Fig 3") < titles.index("Table 2") < titles.index("Fig 13")
    assert "## Findings" in text and "## Steps" in text
    assert titles.index("Findings") < titles.index("Beyond the paper: is the physics preserved?") < titles.index("Steps")
    assert "](figures/physics_mag_beta.png)" in text and ["sdss"] in [_cells(l)[:1] for l in text.splitlines()]
    html = (run/"index.html").read_text()
    assert html.count('src="figures/fig') == 13 and "<table>" in html


def test_rerun_skips(run, capsys):
    reproduce("smoke", out=run, notebooks=ROOT/"nbs")
    steps = json.loads((run/"steps.json").read_text())["steps"]
    assert {s["step"] for s in steps if s["status"] != "skipped"} == {"report"}, steps
    assert sum(s["seconds"] for s in steps if s["step"] != "report") < 30
    assert "notebook 95_ssim: skipped (complete)" in capsys.readouterr().out


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(name="python3", display_name="python3", language="python")
    nb.cells = cells
    return nb


def test_broken_notebook(run, tmp_path):
    nbs, out = tmp_path/"nbs", tmp_path/"out"
    nbs.mkdir()
    params = nbformat.v4.new_code_cell('preset = "smoke"\ndata = None\nseed = 0\nout = None')
    params.metadata["tags"] = ["parameters"]
    nbformat.write(_notebook([params, nbformat.v4.new_code_cell("x = 1")]), nbs/"90_fine.ipynb")
    # a 94_profiles that saves its figure, as the real one does, and then fails
    draw = nbformat.v4.new_code_cell('import matplotlib.pyplot as plt\nfrom survey2survey.reproduce import ensure, save_figure\n'
                                     'inp = ensure(preset, data, seed)\nsave_figure(plt.figure(), out, "fig7")')
    broken = _notebook([params, nbformat.v4.new_markdown_cell("# Fig 7"), draw, nbformat.v4.new_code_cell('raise RuntimeError("deliberately broken")')])
    nbformat.write(broken, nbs/"94_profiles.ipynb")
    cell = len(broken.cells) - 1
    with pytest.raises(NotebookError, match=rf"notebook 94_profiles\.ipynb failed in cell {cell} \(In \[\d+\]\): RuntimeError: "
                       r"deliberately broken; cell begins 'raise RuntimeError"):
        reproduce("smoke", out=out, notebooks=nbs)
    assert (out/"notebooks"/".90_fine.done").exists() and (out/"notebooks"/"90_fine.ipynb").exists()
    assert (out/"figures"/"fig7.png").exists()                  # written by the broken notebook before its failing cell
    assert (out/"notebooks"/"94_profiles.ipynb").exists()       # the executed notebook, with the traceback
    assert not (out/"notebooks"/".94_profiles.done").exists()
    assert not (out/"index.md").exists()


def test_report_numbers(run):
    "Tables 2-3 and the findings in index.md equal numbers recomputed here from the evaluation's per-pair table."
    steps = json.loads((run/"steps.json").read_text())
    pairs = load_evaluation(steps["dataset"]).pairs
    text = (run/"index.md").read_text()
    fmt = lambda v, d: f"{round(v, d) + 0.0:.{d}f}".replace("-", "−")
    checked = 0
    for model, label in (("cae", "CAE"), ("cyclegan", "CycleGAN")):
        tables = text.split("## Table 2")[1].split("## Fig 6")[0], text.split("## Table 3")[1].split("## Fig 7")[0]
        for table, col, scale, digits in ((tables[0], "flux_mag", 1e3, 2), (tables[1], "snr", 1.0, 3)):
            row = next(_cells(l) for l in table.splitlines() if _cells(l)[:1] == [label])
            for split, ref in (("external", "sdss"), ("val", "sdss"), ("val", "des")):
                g = pairs[(pairs.split == split) & (pairs.comparison == f"{model}/{ref}")]
                d = ((g[col] - g[f"{col}_ref"])/g[f"{col}_ref"]).to_numpy()
                d = d[np.isfinite(d)]
                cell = f"{fmt(d.mean()*scale, digits)} ± {fmt(d.std(ddof=1)*scale, digits)}"
                assert cell in row, (cell, row)
                checked += 1
        g = pairs[(pairs.split == "val") & (pairs.comparison == f"{model}/sdss")]
        assert f"mean ΔF = {g.delta_flux.mean():.3g}" in text
    assert checked == 12


def test_shipped_models_by_default(run):
    "Nothing is trained: the shipped models translate, and steps.json and the report name them, with their cards."
    from survey2survey.shipped import DEFAULT, shipped_info
    info = json.loads((run/"steps.json").read_text())
    assert not [s for s in info["steps"] if s["step"].startswith("train")], info["steps"]
    text = (run/"index.md").read_text()
    for m, name in DEFAULT.items():
        meta = shipped_info(name)
        o = info["origins"][m]
        assert (o["origin"], o["name"], o["id"], o["path"]) == ("shipped", name, meta["id"], meta["path"]), o
        assert f"- **{m}**: shipped model `{name}`" in text and o["card"] in text
        rec = json.loads((Path(info["dataset"])/f"{m}-pairs"/"manifest.json").read_text())
        assert rec["spec"]["attrs"]["model_id"] == meta["id"]   # the reconstructions record which weights made them


def test_shipped_flux_ensemble(run):
    "The shipped flux ensemble translates the calibrated pairs: a recorded step, named in the report, in its physics tables, not in Tables 2-3."
    from survey2survey.shipped import DEFAULT_FLUX
    info = json.loads((run/"steps.json").read_text())
    assert "translate cae_flux pairs" in [s["step"] for s in info["steps"]], info["steps"]
    assert (info["origins"]["cae_flux"]["origin"], info["origins"]["cae_flux"]["name"]) == ("shipped", DEFAULT_FLUX), info["origins"]
    text = (run/"index.md").read_text()
    assert f"- **cae_flux**: shipped ensemble `{DEFAULT_FLUX}` (4 members" in text
    preservation = text.split("### Measured vs true")[1].split("###")[0]
    assert {"cae_flux", "sdss-flux", "des-flux"} <= {_cells(l)[0] for l in preservation.splitlines() if _cells(l)}, preservation
    assert "`cae_flux` (the shipped flux ensemble) are measured on calibrated images in nanomaggies" in text
    for table in ("## Table 2", "## Table 3"):
        section = text.split(table)[1].split("\n## ")[0]
        assert "CAE" in section and "cae_flux" not in section, section   # the evaluation is the RGB models'


def test_refuses_the_shipped_models_training_seed(tmp_path, monkeypatch):
    "A simulation of the seed the shipped models trained on holds their training galaxies: refused, before simulating."
    from survey2survey.cli import main
    from survey2survey.shipped import DEFAULT, shipped_info
    seed = shipped_info(DEFAULT["cae"])["data"]["seed"]
    monkeypatch.setenv("SURVEY2SURVEY_DATA", str(tmp_path))
    from survey2survey.core import InputError
    from survey2survey.reproduce import ensure
    with pytest.raises(InputError, match=rf"the shipped model {DEFAULT['cae']} was trained on \S+ \(simulation seed {seed}\): "
                       rf"sim-smoke-seed{seed}, a simulation of the same seed, holds its training galaxies"):
        ensure("smoke", seed=seed)
    assert main(["reproduce", "--seed", str(seed), "--notebooks", str(ROOT/"nbs")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_train_trains_and_reuses_only_for_its_data(run, tmp_path, monkeypatch):
    """With `train=True` both models are trained on the reproduction's data; a finished model is then reused for the data
    it was trained on; in the same folder, other data (as `train cae --preset smoke --data OTHER` would leave it) stop the
    reproduction, naming the folder, the difference and the fix."""
    from survey2survey.core import InputError
    from survey2survey.reproduce import ensure
    from survey2survey.store import damage_images
    steps = json.loads((run/"steps.json").read_text())
    dataset, root = Path(steps["dataset"]), tmp_path/"root"
    for s in ("pairs", "external"): shutil.copytree(dataset/s, root/dataset.name/s)
    monkeypatch.setenv("SURVEY2SURVEY_DATA", str(root))
    first = ensure("smoke", train=True)
    made = {s["step"]: s["status"] for s in first.steps}
    assert made["train cae"] == made["train cyclegan"] == made["translate cae external"] == "done", made
    assert {m: (o["origin"], Path(o["path"]).name, o["epochs"]) for m, o in first.origins.items()} == {
        "cae": ("trained", "cae-smoke-seed0", 2), "cyclegan": ("trained", "cyclegan-smoke-seed0", 2)}, first.origins
    same = {s["step"]: s["status"] for s in ensure("smoke", train=True).steps}
    assert same["train cae"] == same["train cyclegan"] == same["translate cae external"] == "skipped", same
    damage_images(root/dataset.name/"pairs", "des", [0], value=0.5)   # other training data, same dataset folder
    with pytest.raises(InputError, match=rf"{root/'models'/'cae-smoke-seed0'} holds a cae run that this reproduction cannot reuse "
                       rf"\(training data: run used {root/dataset.name/'pairs'} \(hash \w+\), this reproduction {root/dataset.name/'pairs'} .*"
                       r"Rerun with --retrain"):
        ensure("smoke", train=True)
