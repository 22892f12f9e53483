"""Measure finished training runs on held-out galaxies and export them as shipped models with those metrics.

    python tools/ship_models.py [RUN ...] [--data sim-paper-seed2026] [--external STORE] [--n-external 2000]
                                [--holdout-seed 7] [--work DIR] [--root WEIGHTS] [--no-export] [--quick]
    python tools/ship_models.py [RUN ...] --export-only [--metrics MODEL=METRICS.json] [--wall-time MODEL=S]
                                [--name MODEL=NAME] [--root WEIGHTS]

RUN: training run folders (or names under `<data root>/models`); default `cae-efficient-seed0` and
`cyclegan-efficient-seed0`. At most one run per network (`cae`, `cyclegan`): the reconstruction stores are
named after the network. For each run, with its own network (`translate.load_model`):

1. it translates four held-out sets, never a training row:
   - `val`: the validation pairs of `--data` (538 for `sim-paper-seed2026`), copied into `<work>/val`;
   - `ext`: the first `--n-external` galaxies of its external set (default 2,000 of 25,076: translating and
     measuring all of them, the physics above all, takes hours on a 2-core CPU, while 2,000 give the mean ΔF to
     ~0.2 × 10⁻³ (the paper's per-galaxy std is ~7 × 10⁻³, against targets of ±10 × 10⁻³) and the median biases to
     ~0.01 mag; external rows are independent draws, so the first N are a random sample); `--external STORE`
     takes them from another external store (e.g. one simulated on its own, smaller than the paper's) instead of
     `<data>/external`;
   - `seed7-served` and `seed7-float`: the same `--holdout-preset` validation-only galaxies (seed `--holdout-seed`,
     n_train=0, n_val=`--n-holdout`, n_external=0) simulated twice, once as the services deliver the pictures
     (SDSS JPEG q75, DES 8-bit) and once as floats: the metrics with and without JPEG, on the same objects;
2. computes the scorecard of each set (`survey2survey.scorecard`; the physics calibration is fitted once, on
   the DES pictures of the first `--n-calibration` training pairs of `--data`, and used for every set), writes
   it under `<work>/<set>/scorecard/` and a summary beside them (`<work>/summary.md`, `<work>/<model>.metrics.json`);
3. exports the run with `survey2survey.shipped.export_model(run, name, images, metrics=...)` (the first `--n-check`
   validation SDSS images of `--data` as the check images) under the shipped name
   `survey2survey.shipped.DEFAULT[model]` (`--name cae=NAME` to change it), into the package's `weights/` (or `--root`).

`--export-only` skips steps 1 and 2: it exports the runs with the metrics of `--metrics MODEL=FILE` (a JSON dict,
such as the `<work>/<model>.metrics.json` an earlier `--no-export` run wrote; none: the card says so) and the
training wall time of `--wall-time MODEL=SECONDS` (default: read from the run folder).

Resumable: the copies, simulations, reconstruction stores and evaluations are reused when complete (a
reconstruction store made by another network file is redone), and a scorecard whose inputs did not change
is read back from its `scorecard.json`. `--quick`: a tiny run for testing (smoke-sized sets, `--root`
defaulting to `<work>/weights` so the package's weights are never touched).
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SETS = ("val", "ext", "seed7-served", "seed7-float")
SERVED = dict(sdss_encoding="jpeg:75", des_encoding="png")   # as the paper preset delivers its pictures
FLOAT = dict(sdss_encoding="float", des_encoding="float")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="*", help="run folders or names under <data root>/models (default: cae-efficient-seed0 cyclegan-efficient-seed0)")
    p.add_argument("--data", default="sim-paper-seed2026", help="the training dataset: its val split and external set are held out")
    p.add_argument("--external", metavar="STORE", help="the external store whose first --n-external galaxies are measured (default <data>/external)")
    p.add_argument("--n-external", type=int, default=2000, help="external galaxies measured (the first N; default 2,000)")
    p.add_argument("--holdout-preset", default="paper", help="preset of the validation-only held-out simulations (default paper)")
    p.add_argument("--holdout-seed", type=int, default=7, help="their seed (default 7)")
    p.add_argument("--n-holdout", type=int, default=538, help="their validation pairs (default 538, the paper's)")
    p.add_argument("--n-calibration", type=int, default=200, help="DES training pictures of --data the physics calibration is fitted on")
    p.add_argument("--n-check", type=int, default=16, help="validation images export_model checks the 16-bit network on")
    p.add_argument("--work", help="working folder (default <data root>/ship)")
    p.add_argument("--root", help="where shipped models are written (default the package's weights/; with --quick <work>/weights)")
    p.add_argument("--name", action="append", default=[], metavar="MODEL=NAME", help="shipped name of a network (default shipped.DEFAULT)")
    p.add_argument("--no-physics", action="store_true", help="pixel quantities only (the physics is the slow part)")
    p.add_argument("--no-export", action="store_true", help="measure only")
    p.add_argument("--export-only", action="store_true", help="export only, with the metrics of --metrics (no held-out sets)")
    p.add_argument("--metrics", action="append", default=[], metavar="MODEL=FILE", help="with --export-only: a JSON file of held-out metrics for the card")
    p.add_argument("--wall-time", action="append", default=[], metavar="MODEL=SECONDS", help="training wall time for the card (default: read from the run folder)")
    p.add_argument("--processes", type=int, default=None, help="simulation processes (default all CPUs)")
    p.add_argument("--quick", action="store_true", help="a tiny run for testing: --n-external 8 --holdout-preset smoke --n-holdout 4 --n-calibration 8 --n-check 4")
    a = p.parse_args(argv)
    if a.no_export and a.export_only: p.error("--no-export and --export-only exclude each other")
    if a.metrics and not a.export_only: p.error("--metrics goes with --export-only (otherwise the metrics are measured)")
    a.name, a.metrics, a.wall_time = (per_model(p, v, o, t) for v, o, t in ((a.name, "--name", str), (a.metrics, "--metrics", Path),
                                                                            (a.wall_time, "--wall-time", float)))
    if a.quick:
        given = set(x.split("=")[0] for x in (argv if argv is not None else sys.argv[1:]) if x.startswith("--"))
        for k, v in dict(n_external=8, holdout_preset="smoke", n_holdout=4, n_calibration=8, n_check=4).items():
            if "--" + k.replace("_", "-") not in given: setattr(a, k, v)
    return a


def per_model(p, values, option, kind):
    "`MODEL=VALUE` options as `{model: kind(VALUE)}`; a parser error names the option for anything else."
    out = {}
    for v in values:
        m, sep, x = v.partition("=")
        if not sep or m not in ("cae", "cyclegan"): p.error(f"{option} takes MODEL=VALUE with MODEL cae or cyclegan, got {v!r}")
        try: out[m] = kind(x)
        except ValueError: p.error(f"{option} {v!r}: {x!r} is not a {kind.__name__}")
    return out


def held_out_sets(a, work):
    "`{set: (folder, store name, split, description)}`: each held-out set as a folder holding its input store."
    from survey2survey.core import resolve_path
    from survey2survey.simulate import dataset_name, simulate
    from survey2survey.store import copy_rows, open_store
    data = resolve_path(a.data)
    pairs, external = open_store(data/"pairs"), open_store(resolve_path(a.external) if a.external else data/"external")
    out = {}
    copy_rows(pairs, pairs.indices("val"), work/"val"/"pairs")
    out["val"] = (work/"val", "pairs", "val", f"{data.name}, validation split ({len(pairs.indices('val'))} pairs)")
    copy_rows(external, external.indices("external")[:a.n_external], work/"ext"/"external")
    source = f"external store {external.path}" if a.external else f"{data.name}, external set"
    out["ext"] = (work/"ext", "external", "external", f"{source}: its first {min(a.n_external, external.n)} of {external.n} galaxies")
    for name, enc, how in (("seed7-served", SERVED, "SDSS JPEG q75, DES 8-bit, as the services deliver them"),
                           ("seed7-float", FLOAT, "float pictures, no JPEG")):
        sizes = dict(n_train=0, n_val=a.n_holdout, n_external=0)
        ds = simulate(a.holdout_preset, a.holdout_seed, processes=a.processes, **enc, **sizes)
        assert ds.name == dataset_name(a.holdout_preset, a.holdout_seed, **enc, **sizes)
        link = work/name/"pairs"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists(): link.symlink_to(ds/"pairs", target_is_directory=True)
        out[name] = (work/name, "pairs", "val", f"{ds.name}, validation-only simulation ({a.n_holdout} pairs; {how})")
    return out


def physics_calibration(data, n, work):
    "The physics calibration lines of `data` (its first `n` DES training pictures), kept in `<work>/calibration.json`."
    import pandas as pd
    from survey2survey.physics import dataset_calibration
    from survey2survey.store import open_store, store_hash
    pairs = open_store(data/"pairs")
    key, path = dict(data=str(data), hash=store_hash(pairs), n=n), work/"calibration.json"
    if path.exists() and json.loads(path.read_text())["key"] == key:
        return pd.DataFrame(json.loads(path.read_text())["lines"]).set_index("quantity")
    cal = dataset_calibration(pairs, n)
    path.write_text(json.dumps(dict(key=key, lines=cal.reset_index().to_dict("records")), indent=1))
    return cal


def translate_set(run, folder, store_name):
    "The run's reconstruction of `folder/store_name`, `folder/<model>-<store>`: resumed, or redone if another network made it."
    from survey2survey.store import open_store
    from survey2survey.translate import translate
    net, meta = run
    out = folder/f"{meta['model']}-{store_name}"
    stale = (out/"manifest.json").exists() and open_store(out, allow_incomplete=True).attrs.get("model_id") != meta["id"]
    return translate(run, folder/store_name, output=out, overwrite=stale)


def score_set(folder, split, models, ids, calibration, physics):
    "The scorecard of one held-out set; read back from `scorecard/scorecard.json` when its inputs (the networks) did not change."
    from survey2survey.scorecard import save_scorecard, scorecard
    saved = folder/"scorecard"/"scorecard.json"
    key = dict(ids=ids, physics=physics)
    if saved.exists():
        old = json.loads(saved.read_text())
        if old.get("inputs") == key: return old
    card = scorecard(folder, models, split, calibration=calibration, physics=physics)
    save_scorecard(card, folder/"scorecard")
    d = json.loads(saved.read_text())
    d["inputs"] = key
    saved.write_text(json.dumps(d, indent=1))
    return d


def summary(cards, models):
    "A Markdown table: per model and held-out set, the headline quantities beside the SDSS input's."
    keys = ("delta_flux_des_x1e3", "delta_snr_des", "mse_median", "psnr_median", "mssim_median", "better_mse", "better_psnr",
            "better_mssim", "delta_flux_sdss_x1e3", "phot_bias_r", "size_bias", "g_r_spearman", "neighbours_kept", "neighbours_recovered", "artifacts_removed")
    fmt = lambda v: "—" if v is None else f"{v:.4g}"
    lines = []
    for m in models:
        lines += [f"\n### {m}\n", "| quantity | " + " | ".join(f"{s} ({m}) | {s} (SDSS)" for s in cards) + " |", "|---" * (1 + 2*len(cards)) + "|"]
        for k in keys:
            cells = [fmt(c["metrics"][m][who].get(k)) for c in cards.values() for who in ("model", "sdss_input")]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        names = list(dict.fromkeys(t for c in cards.values() for t in c["metrics"][m]["targets"]))
        word = lambda t: "—" if t is None else f"{fmt(t['value'])} " + {True: "met", False: "**not met**", None: "(reported)"}[t["met"]]
        lines += [f"\ntargets of {m}:\n", "| target | " + " | ".join(cards) + " |", "|---" * (1 + len(cards)) + "|"]
        lines += [f"| {t} | " + " | ".join(word(c["metrics"][m]["targets"].get(t)) for c in cards.values()) + " |" for t in names]
    return "\n".join(lines) + "\n"


def find_runs(names, root):
    "`{model: model_info}` of the finished runs `names` (folders or names under `root`), at most one per network."
    from survey2survey.translate import model_info
    runs = {}
    for r in [Path(r) if Path(r).exists() else root/r for r in names]:
        try: meta = model_info(r)
        except Exception as e:
            print(f"skipping {r}: {e}", file=sys.stderr); continue
        if meta["model"] in runs: sys.exit(f"two {meta['model']} runs ({runs[meta['model']]['path']}, {r}): give one run per network")
        runs[meta["model"]] = meta
    if not runs: sys.exit("no finished training run to ship")
    return runs


def measure(a, runs, work):
    "Steps 1 and 2: `{model: {set: metrics}}` on the held-out sets, also written to `<work>/<model>.metrics.json` and `<work>/summary.md`."
    from survey2survey.core import resolve_path
    from survey2survey.translate import load_model
    import survey2survey.cyclegan  # noqa: F401  registers the CycleGAN's custom layers, which `load_model` needs (it does not import them)
    models = sorted(runs)
    sets = held_out_sets(a, work)
    calibration = None if a.no_physics else physics_calibration(resolve_path(a.data), a.n_calibration, work)
    for m in models:
        run = load_model(runs[m]["path"])
        for folder, store_name, *_ in sets.values(): translate_set(run, folder, store_name)
    ids = {m: runs[m]["id"] for m in models}
    cards = {s: score_set(folder, split, models, ids, calibration, not a.no_physics) for s, (folder, _, split, _) in sets.items()}
    for s, c in cards.items():
        for m in models: c["metrics"][m]["dataset"] = sets[s][3]
    text = summary(cards, models)
    (work/"summary.md").write_text(f"# Held-out scorecards of {', '.join(models)}\n\n" +
                                   "".join(f"- {s}: {sets[s][3]}\n" for s in cards) + text)
    print(text)
    metrics = {m: {s: c["metrics"][m] for s, c in cards.items()} for m in models}
    for m in models: (work/f"{m}.metrics.json").write_text(json.dumps(metrics[m], indent=1))
    return metrics


def export(a, runs, metrics, work):
    "Step 3: each run as a shipped model, checked on the first `--n-check` validation SDSS images of `--data`; returns the folders."
    from survey2survey.core import resolve_path
    from survey2survey.shipped import DEFAULT, export_model
    from survey2survey.store import open_store
    pairs = open_store(resolve_path(a.data)/"pairs")
    check = pairs.read("sdss", pairs.indices("val")[:a.n_check])
    root = a.root or (str(work/"weights") if a.quick else None)
    out = {}
    for m, meta in sorted(runs.items()):
        if metrics.get(m) is None: print(f"{m}: no held-out metrics given: the card will say none were", file=sys.stderr)
        out[m] = export_model(meta["path"], a.name.get(m, DEFAULT[m]), check, metrics=metrics.get(m), root=root, wall_time_s=a.wall_time.get(m))
        card = json.loads((out[m]/"card.json").read_text())
        print(f"{m}: exported to {out[m]}: {card['weights']['bytes']/1e6:.2f} MB, max |16-bit - float32| "
              f"{card['check']['max_abs_diff']:.2g} on {card['check']['images']} images")
    return out


def main(argv=None):
    a = parse(argv)
    from survey2survey.core import data_root
    work = Path(a.work) if a.work else data_root()/"ship"
    work.mkdir(parents=True, exist_ok=True)
    runs = find_runs(a.runs or ["cae-efficient-seed0", "cyclegan-efficient-seed0"], data_root()/"models")
    if a.export_only:
        unknown = set(a.metrics) - set(runs)
        if unknown: sys.exit(f"--metrics for {', '.join(sorted(unknown))}, which no run given is")
        metrics = {m: json.loads(f.read_text()) for m, f in a.metrics.items()}
    else:
        metrics = measure(a, runs, work)
    if not a.no_export: export(a, runs, metrics, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
