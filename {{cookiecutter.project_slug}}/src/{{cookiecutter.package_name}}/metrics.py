"""Metric definitions shared by the search, evaluate and the registry gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

CLASSIFICATION = ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss")
REGRESSION = ("r2", "rmse", "mae")
GREATER_IS_BETTER = {
    "roc_auc": True,
    "accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "log_loss": False,
    "r2": True,
    "rmse": False,
    "mae": False,
}


def metrics_for(task: str) -> tuple[str, ...]:
    return CLASSIFICATION if task == "classification" else REGRESSION


def sklearn_scorer(metric: str, n_classes: int = 2) -> str:
    """The scikit-learn scoring name for cross-validation (always greater-is-better)."""
    multiclass = n_classes > 2
    return {
        "roc_auc": "roc_auc_ovr_weighted" if multiclass else "roc_auc",
        "accuracy": "accuracy",
        "f1": "f1_weighted" if multiclass else "f1",
        "precision": "precision_weighted" if multiclass else "precision",
        "recall": "recall_weighted" if multiclass else "recall",
        "log_loss": "neg_log_loss",
        "r2": "r2",
        "rmse": "neg_root_mean_squared_error",
        "mae": "neg_mean_absolute_error",
    }[metric]


def from_scorer(metric: str, score: float) -> float:
    """Undo scikit-learn's sign flip for error metrics."""
    return float(score if GREATER_IS_BETTER[metric] else -score)


def classification(y_true: pd.Series, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Holdout metrics from class probabilities (columns ordered as ``classes``)."""
    predicted = classes[np.argmax(proba, axis=1)]
    binary = len(classes) == 2
    average = "binary" if binary else "weighted"
    pos_label = classes[1] if binary else 1
    if binary:
        auc = skm.roc_auc_score(y_true, proba[:, 1])
    else:
        auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="weighted", labels=classes)
    return {
        "roc_auc": float(auc),
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "f1": float(skm.f1_score(y_true, predicted, average=average, pos_label=pos_label, zero_division=0)),
        "precision": float(
            skm.precision_score(y_true, predicted, average=average, pos_label=pos_label, zero_division=0)
        ),
        "recall": float(skm.recall_score(y_true, predicted, average=average, pos_label=pos_label, zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, proba, labels=classes)),
    }


def regression(y_true: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    return {
        "r2": float(skm.r2_score(y_true, predicted)),
        "rmse": float(skm.root_mean_squared_error(y_true, predicted)),
        "mae": float(skm.mean_absolute_error(y_true, predicted)),
    }
