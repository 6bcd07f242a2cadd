"""Metric directions and holdout metrics for both tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core import metrics
from {{ cookiecutter.package_name }}.core.schema import Feature, Schema


def test_every_metric_has_a_direction_and_a_scorer() -> None:
    for metric in metrics.METRICS:
        assert metric in metrics.GREATER_IS_BETTER
        assert metrics.cv_scorer(metric)


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
    assert metrics.cv_scorer("f1", classes) == "f1_weighted"
    assert metrics.cv_scorer("f1_macro", classes) == "f1_macro"
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


def imbalanced(rows: int = 2000, share: float = 0.05, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Two numeric features and a text target ("Yes" in about ``share`` of the rows) that the first one predicts."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"signal": rng.normal(size=rows), "noise": rng.normal(size=rows)})
    cut = np.quantile(X["signal"] + rng.normal(scale=0.8, size=rows), 1 - share)
    y = pd.Series(np.where(X["signal"] + rng.normal(scale=0.8, size=rows) > cut, "Yes", "No"))
    return X, y


def test_binary_metrics_score_the_positive_class_with_text_labels() -> None:
    # given text labels whose positive class ("No" here) is the first column
    y = pd.Series(["No", "Yes", "Yes", "No", "Yes"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    predicted = np.array(["No", "Yes", "No", "Yes", "Yes"])
    # when scored with "No" as the positive class, on given labels (a threshold's)
    found = metrics.classification(y, proba, np.array(["No", "Yes"]), positive="No", predicted=predicted)
    # then precision, recall and f1 count "No" rows, and average precision ranks by the "No" column
    assert found["precision"] == pytest.approx(1 / 2) and found["recall"] == pytest.approx(1 / 2)
    assert found["average_precision"] == pytest.approx(skm_ap(y == "No", proba[:, 0]))
    assert found["accuracy"] == pytest.approx(3 / 5)


def skm_ap(actual, scores) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(actual, scores))


@pytest.mark.parametrize("metric", ["f1", "precision", "recall", "average_precision", "roc_auc", "log_loss"])
def test_cross_validation_scores_text_labels_by_the_positive_class(metric: str) -> None:
    """scikit-learn's scoring names assume pos_label=1: on "No"/"Yes" every trial failed with
    `pos_label=1 is not a valid label`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    X, y = imbalanced()
    scorer = metrics.cv_scorer(metric, ("No", "Yes"), "Yes")
    scores = cross_val_score(LogisticRegression(), X, y, cv=metrics.TASKS["classification"].folds(3, 0), scoring=scorer)
    assert np.all(np.isfinite(scores)) and (metrics.from_scorer(metric, scores.mean()) > 0)


def test_the_baseline_average_precision_is_the_positive_share_not_one_half() -> None:
    # given a model that ignores the features (the training prior)
    _, y = imbalanced(share=0.04)
    task = metrics.TASKS["classification"]
    dummy = task.baseline().fit(np.zeros((len(y), 1)), y)
    schema = Schema("y", "classification", (Feature("x", "numeric", "float64"),), ("No", "Yes"), "Yes")
    # when it is scored
    found, _ = task.score(dummy, np.zeros((len(y), 1)), y, schema)
    # then its average precision is the share of positives (chance), its ROC AUC 0.5
    assert found["average_precision"] == pytest.approx(float(np.mean(y == "Yes")))
    assert found["roc_auc"] == pytest.approx(0.5)


def test_multiclass_average_precision_is_one_vs_rest_weighted_or_macro() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    classes = np.array(["a", "b", "c"])
    y = pd.Series(["a"] * 6 + ["b"] * 3 + ["c"])
    proba = np.array([[0.8, 0.1, 0.1]] * 6 + [[0.3, 0.6, 0.1]] * 3 + [[0.5, 0.1, 0.4]])
    found = metrics.classification(y, proba, classes)
    each = [skm_ap(y == c, proba[:, i]) for i, c in enumerate(classes)]
    assert found["average_precision_macro"] == pytest.approx(np.mean(each))
    assert found["average_precision"] == pytest.approx(np.average(each, weights=[6, 3, 1]))
    X = pd.DataFrame({"x": np.arange(30) % 3 + np.random.default_rng(0).normal(scale=0.3, size=30)})
    labels = pd.Series(np.array(["a", "b", "c"])[np.arange(30) % 3])
    scorer = metrics.cv_scorer("average_precision_macro", classes)
    assert cross_val_score(LogisticRegression(), X, labels, cv=3, scoring=scorer).min() > 0.5


def test_the_default_metric_follows_the_positive_share() -> None:
    assert metrics.default_metric("classification", None) == ("roc_auc", "")
    assert metrics.default_metric("classification", 0.37) == ("roc_auc", "")
    metric, why = metrics.default_metric("classification", 0.033)
    assert metric == "average_precision" and "3.3% of the training rows (under 10%)" in why
    assert metrics.default_metric("regression", 0.033) == ("r2", "")
    # its floor: a fifth of the way from chance (the share) to 1, as ROC AUC's 0.6 from 0.5
    assert metrics.default_floor("average_precision", 0.033) == pytest.approx(0.033 + 0.2 * 0.967)
    assert metrics.default_floor("average_precision", 0.5) == pytest.approx(metrics.default_floor("roc_auc", 0.5))
    assert metrics.default_floor("average_precision", None) is None
