"""Time the default model search of a baked project, and what logging each trial as an MLflow child run costs.

    python benchmarks/search.py [--runner self-hosted-cpu|self-hosted-gpu|github-hosted] [--task ...]
                                [--project DIR] [--python PYTHON] [--repeat 3]

Without --project it bakes the template with the answers given and runs `make setup`; with --project it uses an
already baked project (its .venv, or --python). The stages run in a scratch copy (params.yaml, gx/) with
MLflow on a SQLite file there, so the project is left as it was.

For each repeat: the real train stage (search as child runs, refit, model logged), then the same search with no
MLflow at all. Prints a table: search wall time, time spent logging child runs (measured around each child run
inside train) and its share of the search, and the search time with no logging. Target: logging under 10%.
Not a test: the numbers go into docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _env import QUIET

TEMPLATE = Path(__file__).resolve().parents[1]

# Runs inside the project's interpreter: argv = package, project dir, repeats. Prints one JSON line per repeat.
DRIVER = r"""
import importlib, json, logging, os, shutil, sys, tempfile, time
from pathlib import Path

package, project, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
scratch = Path(tempfile.mkdtemp(prefix="search-bench-"))
shutil.copytree(project / "gx", scratch / "gx", ignore=shutil.ignore_patterns("uncommitted"))
shutil.copy(project / "params.yaml", scratch / "params.yaml")
(scratch / "data" / "external").mkdir(parents=True)
os.chdir(scratch)
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
logging.basicConfig(level=logging.WARNING)

config = importlib.import_module(f"{package}.core.config")
schemas = importlib.import_module(f"{package}.core.schema")
search = importlib.import_module(f"{package}.training.search")
features = importlib.import_module(f"{package}.training.features")
models = importlib.import_module(f"{package}.training.models")
stages = {n: importlib.import_module(f"{package}.stages.{n}") for n in ("ingest", "validate", "prepare", "train")}
import mlflow
import pandas as pd

cfg = config.load("params.yaml")
for name in ("ingest", "validate", "prepare"):
    stages[name].run(cfg)
schema = schemas.Schema.load(Path("data/processed/features.json"))
frame = pd.read_parquet("data/processed/train.parquet")
X, y = features.conform(frame, schema), frame[schema.target]
families = [c.family for c in cfg.train.search.candidates]
device = models.resolve_device(cfg.train.device, families)

for _ in range(repeats):
    candidate = stages["train"].run(cfg)
    metrics = mlflow.get_run(candidate.run_id).data.metrics
    trials = search.plan(cfg.train.search, cfg.task, cfg.train.seed)
    started = time.perf_counter()
    bare = search.run_search(trials, X, y, schema, metric=cfg.train.metric, folds=cfg.train.cv_folds,
                             seed=cfg.train.seed, max_seconds=cfg.train.search.max_seconds, device=device)
    bare_seconds = time.perf_counter() - started
    print(json.dumps({
        "trials": int(metrics["search_trials_run"]), "rows": len(X), "folds": cfg.train.cv_folds, "device": device,
        "families": families, "search": metrics["search_seconds"], "logging": metrics["search_logging_seconds"],
        "share": metrics["search_logging_share"], "refit": metrics["train_seconds"], "bare": bare_seconds,
        "best": candidate.family,
    }), flush=True)
shutil.rmtree(scratch, ignore_errors=True)
"""


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI")} | QUIET


def bake(runner: str, task: str) -> Path:
    out = Path(tempfile.mkdtemp(prefix="search-bench-bake-"))
    answers = [f"training_runner={runner}", f"task={task}"]
    subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out), *answers],
        check=True,
        env=env(),
    )
    project = next(out.iterdir())
    subprocess.run(["make", "setup"], cwd=project, check=True, env=env(), capture_output=True)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runner", default="self-hosted-gpu", help="training_runner answer to bake (default: %(default)s)"
    )
    parser.add_argument("--task", default="classification", choices=["classification", "regression"])
    parser.add_argument("--project", type=Path, help="an already baked project to use instead of baking one")
    parser.add_argument("--python", help="interpreter with the project installed (default: the project's .venv)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    project = (args.project or bake(args.runner, args.task)).resolve()
    answers = json.loads((project / ".cookiecutter.json").read_text())
    python = args.python or str(project / ".venv" / "bin" / "python")
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-c", DRIVER, answers["package_name"], str(project), str(args.repeat)],
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"the benchmark driver failed:\n{done.stderr[-4000:]}")
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    first = runs[0]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}; {time.perf_counter() - started:.0f} s in all"
    )
    print(
        f"project: training_runner={answers['training_runner']}, task={answers['task']}, "
        f"{answers['mlflow_tracking_uri']} tracking (here a scratch SQLite file)"
    )
    print(
        f"search: default params.yaml, {first['trials']} trials ({', '.join(first['families'])}), "
        f"{first['folds']}-fold CV on {first['rows']} rows, device {first['device']}; best: {first['best']}; "
        f"median of {len(runs)}\n"
    )
    print("| measure | seconds | share of search |\n| --- | ---: | ---: |")
    print(f"| search wall time, trials as MLflow child runs | {median('search'):.2f} | 100% |")
    print(f"| of which child-run logging | {median('logging'):.3f} | {100 * median('share'):.1f}% |")
    print(f"| same search, no MLflow | {median('bare'):.2f} | |")
    print(f"| refit of the best on all training rows | {median('refit'):.2f} | |")
    verdict = "meets" if median("share") < 0.10 else "MISSES"
    print(f"\nchild-run logging {verdict} the target of under 10% of the search time")


if __name__ == "__main__":
    main()
