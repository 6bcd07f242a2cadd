"""evaluate: holdout metrics for candidate and champion, DVC plot data and figures."""

from __future__ import annotations

import json

import mlflow
import pytest

from {{ cookiecutter.package_name }}.core import config, metrics
from {{ cookiecutter.package_name }}.core.reports import Candidate, HoldoutMetrics
from {{ cookiecutter.package_name }}.stages import evaluate

from ..helpers import PATHS


def test_metrics_report_has_the_task_metrics(in_trained) -> None:
    cfg = config.load("params.yaml")
    report = HoldoutMetrics.load(PATHS.metrics)
    assert set(report.candidate) == set(metrics.TASKS[cfg.task].metrics)
    assert report.champion is None  # the first run had no champion to compare with
    assert report.holdout_rows == 48
    assert json.loads(PATHS.metrics.read_text())["champion"] is None  # a DVC metric: the keys stay flat


def test_plots_and_figures_are_written(in_trained) -> None:
    cfg = config.load("params.yaml")
    plots = {p.name for p in PATHS.plots.iterdir()}
    figures = {p.name for p in PATHS.figures.iterdir()}
    if cfg.task == "classification":
        assert plots == {"confusion.json", "roc.json", "pr.json"}
        assert figures == {"confusion_matrix.png", "roc_curve.png", "pr_curve.png"}
        rows = json.loads((PATHS.plots / "confusion.json").read_text())
        assert len(rows) == 48 and set(rows[0]) == {"actual", "predicted"}
        curve = json.loads((PATHS.plots / "pr.json").read_text())
        assert set(curve[0]) == {"recall", "precision"} and curve[0]["recall"] == 0 and curve[-1]["recall"] == 1
    else:
        assert plots == {"residuals.json"}
        assert figures == {"residuals.png"}


def test_holdout_metrics_are_logged_to_the_training_run(in_trained) -> None:
    candidate = Candidate.load(PATHS.candidate)
    run = mlflow.get_run(candidate.run_id)
    report = HoldoutMetrics.load(PATHS.metrics)
    for name, value in report.candidate.items():
        assert run.data.metrics[f"test_{name}"] == value


def test_a_second_evaluation_compares_with_the_champion(in_trained) -> None:
    cfg = config.load("params.yaml")
    first = PATHS.metrics.read_text()
    try:
        report = evaluate.run(cfg)
    finally:
        PATHS.metrics.write_text(first)  # the fixture is shared: leave it as the pipeline wrote it
    assert report.champion is not None and report.champion.version == 1
    assert report.champion.scores[cfg.register_.metric] == report.candidate[cfg.register_.metric]
    written = json.loads(report.model_dump_json())["champion"]  # as metrics.json holds it (a DVC metric)
    assert written == {"version": 1, **report.champion.scores}, "the champion's metrics sit beside its version"


def test_the_holdout_report_shows_the_tuned_threshold_beside_one_half(in_trained) -> None:
    """A binary target: precision, recall and f1 of the positive class at the model's tuned threshold (the labels
    every runtime gives) and at 0.5; the candidate's metrics are the former, the baseline's average precision is
    the positive share."""
    import pandas as pd

    from {{ cookiecutter.package_name }}.core.schema import Schema

    cfg = config.load("params.yaml")
    report = HoldoutMetrics.load(PATHS.metrics)
    if cfg.task != "classification":
        assert report.threshold is None
        return
    schema = Schema.load(PATHS.features)
    candidate = Candidate.load(PATHS.candidate)
    assert report.threshold is not None and report.threshold.positive_class == schema.positive_class == "yes"
    assert report.threshold.threshold == candidate.threshold and report.threshold.objective == "f1"
    assert report.candidate["f1"] == report.threshold.at_threshold.f1
    assert report.candidate["recall"] == report.threshold.at_threshold.recall
    assert report.threshold.at_threshold != report.threshold.at_0_5, "the tuned threshold changes some labels"
    holdout = pd.read_parquet(PATHS.holdout)
    share = float((holdout[schema.target] == schema.positive_class).mean())
    assert report.baseline["average_precision"] == pytest.approx(share) and report.baseline["roc_auc"] == 0.5
