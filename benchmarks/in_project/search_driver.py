"""The model search, timed inside train and bare: in a scratch copy of the project's params.yaml, gx/ and vendor/
(MLflow on a SQLite file there), ingest, validate and prepare once, then REPEATS times the real train stage (trials
as child runs, refit, model logged) and the same search with no MLflow at all.

    python search_driver.py PACKAGE PROJECT REPEATS [--lean]

--lean searches one logistic regression on 3 folds instead of params.yaml's search (the benchmark's smoke run).
Prints one JSON line per repeat.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd
import yaml


def main() -> None:
    package, project, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    scratch = Path(tempfile.mkdtemp(prefix="search-bench-"))
    shutil.copytree(project / "gx", scratch / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    shutil.copytree(project / "vendor", scratch / "vendor")  # validate writes Data Docs that load these (offline)
    shutil.copy(project / "params.yaml", scratch / "params.yaml")
    if "--lean" in sys.argv[4:]:
        params = yaml.safe_load((scratch / "params.yaml").read_text())
        params["train"]["cv_folds"] = 3
        params["train"]["search"]["candidates"] = [{"family": "logistic_regression", "params": {"C": [1.0]}}]
        (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (scratch / "data" / "external").mkdir(parents=True)
    os.chdir(scratch)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
    logging.basicConfig(level=logging.WARNING)

    config = importlib.import_module(f"{package}.core.config")
    search = importlib.import_module(f"{package}.training.search")
    features = importlib.import_module(f"{package}.training.features")
    schemas = importlib.import_module(f"{package}.core.schema")
    models = importlib.import_module(f"{package}.training.models")
    stages = {n: importlib.import_module(f"{package}.stages.{n}") for n in ("ingest", "validate", "prepare", "train")}

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
        search.run_search(
            trials,
            X,
            y,
            schema,
            metric=cfg.train.metric,
            folds=cfg.train.cv_folds,
            seed=cfg.train.seed,
            max_seconds=cfg.train.search.max_seconds,
            device=device,
        )
        bare_seconds = time.perf_counter() - started
        result = {
            "trials": int(metrics["search_trials_run"]),
            "rows": len(X),
            "folds": cfg.train.cv_folds,
            "device": device,
            "families": families,
            "search": metrics["search_seconds"],
            "logging": metrics["search_logging_seconds"],
            "share": metrics["search_logging_share"],
            "refit": metrics["train_seconds"],
            "bare": bare_seconds,
            "best": candidate.family,
        }
        print(json.dumps(result), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
