"""Metric definitions and the two tasks, shared by the config checks, the search, evaluate and the registry gate.

One registry (``METRICS``) holds, per metric, its task, direction, the range its values can take and whether it
is measured in the target's own units; everything else is derived from it. ``TASKS`` holds what differs between
classification and regression (classes or numbers, the default metric, the baseline, the folds, how a model is
scored), so no other module asks which task it is.

Multi-class averaging: ``f1``, ``precision``, ``recall`` and ``roc_auc`` are **weighted** by class frequency
(binary problems use the positive class, the second of the sorted labels); the ``*_macro`` variants weigh every
class the same, which rewards getting rare classes right. Pick one with ``train.metric`` / ``register.metric``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported by the functions that score: config.py reads the tables only
    import pandas as pd


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    greater_is_better: bool
    low: float | None  # the smallest value the metric can take (None: unbounded)
    high: float | None  # the largest
    target_units: bool = False  # measured in the target's units (rmse, mae): a floor must be on that scale
    default_floor: float | None = None  # the gate's floor when register.floor is left out (None: no floor)
    scorer: str = ""  # scikit-learn scoring name for two classes / regression
    multiclass_scorer: str = ""  # for more than two classes


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "classification", True, 0, 1, default_floor=0.6, scorer="roc_auc",
               multiclass_scorer="roc_auc_ovr_weighted"),
        Metric("roc_auc_macro", "classification", True, 0, 1, default_floor=0.6, scorer="roc_auc",
               multiclass_scorer="roc_auc_ovr"),
        Metric("accuracy", "classification", True, 0, 1, scorer="accuracy", multiclass_scorer="accuracy"),
        Metric("f1", "classification", True, 0, 1, scorer="f1", multiclass_scorer="f1_weighted"),
        Metric("f1_macro", "classification", True, 0, 1, scorer="f1_macro", multiclass_scorer="f1_macro"),
        Metric("precision", "classification", True, 0, 1, scorer="precision", multiclass_scorer="precision_weighted"),
        Metric("precision_macro", "classification", True, 0, 1, scorer="precision_macro",
               multiclass_scorer="precision_macro"),
        Metric("recall", "classification", True, 0, 1, scorer="recall", multiclass_scorer="recall_weighted"),
        Metric("recall_macro", "classification", True, 0, 1, scorer="recall_macro", multiclass_scorer="recall_macro"),
        Metric("log_loss", "classification", False, 0, None, scorer="neg_log_loss", multiclass_scorer="neg_log_loss"),
        Metric("r2", "regression", True, None, 1, default_floor=0.0, scorer="r2"),
        Metric("rmse", "regression", False, 0, None, target_units=True, scorer="neg_root_mean_squared_error"),
        Metric("mae", "regression", False, 0, None, target_units=True, scorer="neg_mean_absolute_error"),
    )
}  # fmt: skip
GREATER_IS_BETTER = {m.name: m.greater_is_better for m in METRICS.values()}


@dataclass(frozen=True)
class Task:
    """What differs between the tasks. Look one up by the config's ``task``: ``TASKS[cfg.task]``."""

    name: str
    has_classes: bool  # labels are classes: probabilities, stratified splits and folds, confusion matrix, ROC
    default_metric: str  # train.metric (and so register.metric) when left out
    linear_family: str  # the task's linear model family: the suggested fix and own_data's starting candidate
    datasets: tuple[str, ...]  # the bundled scikit-learn datasets of the task (ingest.source: sklearn:<name>)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(m.name for m in METRICS.values() if m.task == self.name)

    @property
    def other(self) -> Task:
        (found,) = (t for t in TASKS.values() if t.name != self.name)
        return found

    @property
    def prediction_kind(self) -> str:
        """A prediction's feature kind when its drift is measured: a class or a number."""
        return "categorical" if self.has_classes else "numeric"

    def baseline(self) -> Any:
        """An unfitted model that ignores the features: the training classes' prior, or the training mean."""
        from sklearn.dummy import DummyClassifier, DummyRegressor

        return DummyClassifier(strategy="prior") if self.has_classes else DummyRegressor()

    def folds(self, n_splits: int, seed: int) -> Any:
        """Seeded, shuffled cross-validation folds (stratified on the classes when there are classes)."""
        from sklearn.model_selection import KFold, StratifiedKFold

        splitter = StratifiedKFold if self.has_classes else KFold
        return splitter(n_splits=n_splits, shuffle=True, random_state=seed)

    def score(self, model: Any, X: Any, y: pd.Series | np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """The task's holdout metrics of a fitted model, plus the class probabilities or the predictions."""
        if self.has_classes:
            proba = model.predict_proba(X)
            return classification(y, proba, np.asarray(model.classes_)), proba
        predicted = model.predict(X)
        return regression(y, predicted), predicted


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("classification", True, "roc_auc", "logistic_regression", ("breast_cancer", "iris", "wine", "digits")),
        Task("regression", False, "r2", "ridge", ("diabetes",)),
    )
}


def sklearn_scorer(metric: str, n_classes: int = 2) -> str:
    """The scikit-learn scoring name for cross-validation (always greater-is-better)."""
    found = METRICS[metric]
    return (found.multiclass_scorer or found.scorer) if n_classes > 2 else found.scorer


def from_scorer(metric: str, score: float) -> float:
    """Undo scikit-learn's sign flip for error metrics."""
    return float(score if GREATER_IS_BETTER[metric] else -score)


def classification(y_true: pd.Series | np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Holdout metrics from class probabilities (columns ordered as ``classes``)."""
    import numpy as np
    from sklearn import metrics as skm

    predicted = classes[np.argmax(proba, axis=1)]
    binary = len(classes) == 2
    average = "binary" if binary else "weighted"
    pos_label = classes[1] if binary else 1

    def auc(how: str) -> float:
        if binary:
            return float(skm.roc_auc_score(y_true, proba[:, 1]))
        return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", average=how, labels=classes))

    def scored(function: Callable[..., Any], how: str) -> float:
        extra = {"pos_label": pos_label} if how == "binary" else {}
        return float(function(y_true, predicted, average=how, zero_division=0, **extra))

    return {
        "roc_auc": auc("weighted"),
        "roc_auc_macro": auc("macro"),
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "f1": scored(skm.f1_score, average),
        "f1_macro": scored(skm.f1_score, "macro"),
        "precision": scored(skm.precision_score, average),
        "precision_macro": scored(skm.precision_score, "macro"),
        "recall": scored(skm.recall_score, average),
        "recall_macro": scored(skm.recall_score, "macro"),
        "log_loss": float(skm.log_loss(y_true, proba, labels=classes)),
    }


def regression(y_true: pd.Series | np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as skm

    return {
        "r2": float(skm.r2_score(y_true, predicted)),
        "rmse": float(skm.root_mean_squared_error(y_true, predicted)),
        "mae": float(skm.mean_absolute_error(y_true, predicted)),
    }
