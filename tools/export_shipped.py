"""Export a finished training run as a shipped model (`survey2survey.shipped.export_model`).

    python tools/export_shipped.py RUN NAME [--metrics METRICS.json] [--wall-time-s S] [--root DIR]

RUN is a training run folder (or its name under the data root's `models/`), NAME the shipped name
(`cae-sim-v2`, `cyclegan-sim-v1`). The 16-bit check runs on the first 16 validation SDSS images of
the run's training dataset; METRICS.json (optional) is the held-out metrics dict recorded in the card.
"""
import argparse
import json
from pathlib import Path

from survey2survey.shipped import export_model
from survey2survey.store import open_store
from survey2survey.translate import model_info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run"); p.add_argument("name")
    p.add_argument("--metrics", type=Path, help="JSON file: held-out metrics for the model card")
    p.add_argument("--wall-time-s", type=float, help="training wall time (default: read from the run folder)")
    p.add_argument("--root", type=Path, help="shipped models' folder (default: the package's weights/)")
    p.add_argument("--n-check", type=int, default=16, help="validation images for the 16-bit check (default 16)")
    a = p.parse_args(argv)
    meta = model_info(a.run)
    pairs = open_store(meta["data"]["path"])
    x = pairs.read("sdss", pairs.indices("val")[:a.n_check])
    metrics = json.loads(a.metrics.read_text()) if a.metrics else None
    folder = export_model(meta["path"], a.name, x, metrics=metrics, root=a.root, wall_time_s=a.wall_time_s)
    card = json.loads((folder/"card.json").read_text())
    print(f"{folder}: {card['weights']['bytes']/1e6:.2f} MB, max |16-bit - float32| {card['check']['max_abs_diff']:.2g} "
          f"on {card['check']['images']} images")


if __name__ == "__main__":
    main()
