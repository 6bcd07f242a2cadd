"""evaluate: score the candidate and the current champion on the same holdout (training/evaluation.py).

Writes reports/metrics.json (core/reports.HoldoutMetrics, a DVC metric: ``candidate``, ``champion`` and
``baseline`` sections), DVC plot data under reports/plots/ and figures under reports/figures/
(training/figures.py), and logs the holdout metrics and figures to the candidate's MLflow run.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from ..core.config import Config
from ..core.metrics import TASKS
from ..core.reports import Candidate, HoldoutMetrics, Prepared
from ..core.schema import Schema
from ..tracking import model_files, provenance, runs
from ..training import evaluation, features, figures

log = logging.getLogger(__name__)


def run(cfg: Config) -> HoldoutMetrics:
    import mlflow

    paths = cfg.paths
    candidate = Candidate.load(paths.candidate)
    schema = Schema.load(paths.features)
    test = pd.read_parquet(paths.holdout)
    X, y = features.conform(test, schema), test[schema.target]
    client = runs.configure(cfg.tracking)

    provenance.check_candidate(client, candidate, runs.experiment_name(cfg.tracking))  # before anything loads it
    model = model_files.load_logged(candidate.model_uri)
    found, outputs = evaluation.score(model, X, y, schema)
    classes = np.asarray(model.classes_) if TASKS[schema.task].has_classes else None
    report = HoldoutMetrics(
        candidate=found,
        champion=evaluation.champion_metrics(cfg, client, X, y, schema),
        baseline=evaluation.baseline_metrics(pd.read_parquet(paths.train), X, y, schema),
        holdout_rows=len(X),
    )

    report.save(paths.metrics)
    paths.plots.mkdir(parents=True, exist_ok=True)
    for name, rows in figures.plot_data(y, outputs, classes).items():
        (paths.plots / f"{name}.json").write_text(json.dumps(rows) + "\n")
    paths.figures.mkdir(parents=True, exist_ok=True)
    prepared = Prepared.read(paths.prepared)  # prepare's row counts (duplicates removed)
    with mlflow.start_run(run_id=candidate.run_id):
        runs.log_dataset(test, paths.holdout, "holdout", target=schema.target)
        mlflow.log_metrics({f"test_{k}": v for k, v in found.items()})
        if prepared is not None:
            mlflow.log_metrics({f"prepare_{k}": v for k, v in prepared.model_dump().items()})
        for name, figure in figures.figures(y, outputs, classes).items():
            figures.save(figure, paths.figures / name)
            mlflow.log_artifact(str(paths.figures / name), "evaluation")  # the same file: drawn once, not twice
    champion = report.champion.model_dump() if report.champion is not None else "none yet"
    log.info("holdout: candidate %s; champion %s", found, champion)
    return report
