"""Metric directions and holdout metrics for both tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core import metrics


def test_every_metric_has_a_direction_and_a_scorer() -> None:
    for metric in metrics.METRICS:
        assert metric in metrics.GREATER_IS_BETTER
        assert metrics.sklearn_scorer(metric)


def test_error_metrics_undo_the_sign_flip() -> None:
    assert metrics.from_scorer("rmse", -3.0) == 3.0
    assert metrics.from_scorer("r2", 0.7) == 0.7


def test_classification_metrics_with_text_labels() -> None:
    y = pd.Series(["no", "yes", "yes", "no"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    found = metrics.classification(y, proba, np.array(["no", "yes"]))
    assert found["accuracy"] == pytest.approx(0.75)
    assert found["roc_auc"] == pytest.approx(1.0)
    assert found["recall"] == pytest.approx(0.5)


def test_regression_metrics() -> None:
    found = metrics.regression(pd.Series([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert found["mae"] == pytest.approx(2 / 3)
    assert found["rmse"] == pytest.approx(np.sqrt(4 / 3))


def test_multiclass_averaging_is_chosen_by_the_metric_name() -> None:
    """Plain names weigh classes by their share; *_macro weighs every class the same (rare classes count more)."""
    classes = np.array(["a", "b", "c"])
    y = pd.Series(["a"] * 8 + ["b", "c"])
    proba = np.array([[0.8, 0.1, 0.1]] * 8 + [[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    found = metrics.classification(y, proba, classes)
    assert found["f1"] > found["f1_macro"]
    assert found["recall_macro"] == pytest.approx((1 + 0 + 1) / 3)
    assert metrics.sklearn_scorer("f1", n_classes=3) == "f1_weighted"
    assert metrics.sklearn_scorer("f1_macro", n_classes=3) == "f1_macro"
    assert set(found) == set(metrics.TASKS["classification"].metrics)


def test_every_metric_knows_its_task_range_and_units() -> None:
    assert metrics.METRICS["rmse"].target_units and not metrics.METRICS["r2"].target_units
    assert metrics.METRICS["roc_auc"].high == 1 and metrics.METRICS["r2"].low is None
    assert all(task.default_metric in task.metrics for task in metrics.TASKS.values())


def test_each_task_knows_the_other_and_its_own_baseline_and_folds() -> None:
    classification, regression = metrics.TASKS["classification"], metrics.TASKS["regression"]
    assert classification.other is regression and regression.other is classification
    assert set(classification.metrics) | set(regression.metrics) == set(metrics.METRICS)
    assert type(classification.baseline()).__name__ == "DummyClassifier"
    assert type(regression.baseline()).__name__ == "DummyRegressor"
    assert type(classification.folds(3, seed=0)).__name__ == "StratifiedKFold"
    assert type(regression.folds(3, seed=0)).__name__ == "KFold"
