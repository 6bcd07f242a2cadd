"""Metric definitions and the two tasks, shared by the config checks, the search, evaluate and the registry gate.

One registry (``METRICS``) holds, per metric, its task, direction, the range its values can take and whether it
is measured in the target's own units; everything else is derived from it. ``TASKS`` holds what differs between
classification and regression (classes or numbers, the default metric, the baseline, the folds, how a model is
scored), so no other module asks which task it is.

Binary targets score the **positive class** (the feature schema's ``positive_class``: prepare.positive_class, or
the minority class; core/decision.py), whatever its labels are ("Yes"/"No", 0/1): f1, precision and recall count
its rows, average precision ranks by its probability. Multi-class averaging: ``f1``, ``precision``, ``recall``,
``roc_auc`` and ``average_precision`` are **weighted** by class frequency (the last two one-vs-rest: each class
against the others, by its own probability column); the ``*_macro`` variants weigh every class the same, which
rewards getting rare classes right. Pick one with ``train.metric`` / ``register.metric``.

The default metric follows the task, and for classification the data too: a binary target whose positive class is
under ``IMBALANCED_SHARE`` of the rows is ranked by average precision (ROC AUC looks good on such data while the
rare class is mostly missed), whose chance level is that share; ``default_metric`` says which and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported by the functions that score: config.py reads the tables only
    import pandas as pd


class DecisionRule(Protocol):
    """How a model's probabilities become labels and which class binary metrics score (core/schema.Schema)."""

    @property
    def positive_class(self) -> Any: ...

    def labels(self, probabilities: np.ndarray) -> np.ndarray: ...


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
    multiclass_scorer: str = ""  # for more than two classes (average precision: how its classes are averaged)
    positive: bool = False  # a binary target scores its positive class (pos_label): f1, precision, recall, AP
    ranks: bool = False  # scored on the probabilities (response_method predict_proba), not on the labels


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "classification", True, 0, 1, default_floor=0.6, scorer="roc_auc",
               multiclass_scorer="roc_auc_ovr_weighted"),
        Metric("roc_auc_macro", "classification", True, 0, 1, default_floor=0.6, scorer="roc_auc",
               multiclass_scorer="roc_auc_ovr"),
        Metric("average_precision", "classification", True, 0, 1, scorer="average_precision",
               multiclass_scorer="weighted", positive=True, ranks=True),
        Metric("average_precision_macro", "classification", True, 0, 1, scorer="average_precision",
               multiclass_scorer="macro", positive=True, ranks=True),
        Metric("accuracy", "classification", True, 0, 1, scorer="accuracy", multiclass_scorer="accuracy"),
        Metric("f1", "classification", True, 0, 1, scorer="f1", multiclass_scorer="f1_weighted", positive=True),
        Metric("f1_macro", "classification", True, 0, 1, scorer="f1_macro", multiclass_scorer="f1_macro"),
        Metric("precision", "classification", True, 0, 1, scorer="precision", multiclass_scorer="precision_weighted",
               positive=True),
        Metric("precision_macro", "classification", True, 0, 1, scorer="precision_macro",
               multiclass_scorer="precision_macro"),
        Metric("recall", "classification", True, 0, 1, scorer="recall", multiclass_scorer="recall_weighted",
               positive=True),
        Metric("recall_macro", "classification", True, 0, 1, scorer="recall_macro", multiclass_scorer="recall_macro"),
        Metric("log_loss", "classification", False, 0, None, scorer="neg_log_loss", multiclass_scorer="neg_log_loss"),
        Metric("r2", "regression", True, None, 1, default_floor=0.0, scorer="r2"),
        Metric("rmse", "regression", False, 0, None, target_units=True, scorer="neg_root_mean_squared_error"),
        Metric("mae", "regression", False, 0, None, target_units=True, scorer="neg_mean_absolute_error"),
    )
}  # fmt: skip
GREATER_IS_BETTER = {m.name: m.greater_is_better for m in METRICS.values()}
IMBALANCED_SHARE = 0.10  # a binary target whose positive class is rarer than this defaults to average precision
IMBALANCED_METRIC = "average_precision"
# The default floor of average precision, whose chance level is the positive share p (a model that ignores the
# features scores p): the same share of the way from chance to perfect as ROC AUC's floor 0.6 (chance 0.5), so
# p + 0.2 * (1 - p): 0.23 at 3.3% positives, 0.6 at 50%.
CHANCE_TO_FLOOR = 0.2


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

    def score(
        self, model: Any, X: Any, y: pd.Series | np.ndarray, schema: DecisionRule, rule: DecisionRule | None = None
    ) -> tuple[dict[str, float], np.ndarray]:
        """The task's holdout metrics of a fitted model, plus the class probabilities or the predictions. Binary
        metrics score ``schema``'s positive class; labels follow ``rule``'s decision rule (default ``schema``'s: its
        positive class and threshold, core/decision.py)."""
        if self.has_classes:
            proba = model.predict_proba(X)
            labels = (rule or schema).labels(proba)
            found = classification(
                y, proba, np.asarray(model.classes_), positive=schema.positive_class, predicted=labels
            )
            return found, proba
        predicted = model.predict(X)
        return regression(y, predicted), predicted


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("classification", True, "roc_auc", "logistic_regression", ("breast_cancer", "iris", "wine", "digits")),
        Task("regression", False, "r2", "ridge", ("diabetes",)),
    )
}


def default_metric(task: str, positive_share: float | None) -> tuple[str, str]:
    """train.metric (and so register.metric) when left out, and why when the data chose it: the task's default,
    or average precision for a binary target whose positive class is under IMBALANCED_SHARE of the rows."""
    if TASKS[task].has_classes and positive_share is not None and positive_share < IMBALANCED_SHARE:
        return IMBALANCED_METRIC, (
            f"a binary target whose positive class is {100 * positive_share:.1f}% of the training rows "
            f"(under {100 * IMBALANCED_SHARE:.0f}%) defaults to {IMBALANCED_METRIC}"
        )
    return TASKS[task].default_metric, ""


def default_floor(metric: str, positive_share: float | None) -> float | None:
    """register.floor when left out: the metric's own, or for average precision of a binary target the positive
    share plus CHANCE_TO_FLOOR of the way to 1 (none when the share is unknown: the baseline check still holds)."""
    if METRICS[metric].scorer == "average_precision":
        if positive_share is None:
            return None
        return round(positive_share + CHANCE_TO_FLOOR * (1 - positive_share), 4)
    return METRICS[metric].default_floor


def cv_scorer(metric: str, classes: Sequence[Any] | np.ndarray = (), positive: Any = None) -> Any:
    """What cross-validation scores ``metric`` with (always greater-is-better): a scikit-learn scoring name, or a
    scorer that knows the positive class (binary f1, precision, recall, average precision: text labels have no
    ``pos_label=1``) or the classes (multi-class average precision, one-vs-rest)."""
    from sklearn.metrics import average_precision_score, f1_score, make_scorer, precision_score, recall_score

    found = METRICS[metric]
    if len(classes) > 2:
        if not found.ranks:
            return found.multiclass_scorer or found.scorer
        return make_scorer(
            one_vs_rest_average_precision,
            response_method="predict_proba",
            classes=list(classes),
            average=found.multiclass_scorer,
        )
    if not found.positive:
        return found.scorer
    positive = positive if positive is not None else (classes[1] if len(classes) == 2 else 1)
    if found.ranks:
        return make_scorer(average_precision_score, response_method="predict_proba", pos_label=positive)
    function = {"f1": f1_score, "precision": precision_score, "recall": recall_score}[found.name]
    return make_scorer(function, pos_label=positive, zero_division=0)


def from_scorer(metric: str, score: float) -> float:
    """Undo scikit-learn's sign flip for error metrics."""
    return float(score if GREATER_IS_BETTER[metric] else -score)


def one_vs_rest_average_precision(
    y_true: pd.Series | np.ndarray, proba: np.ndarray, *, classes: Sequence[Any] | np.ndarray, average: str
) -> float:
    """Multi-class average precision: each class against the others by its probability column, averaged (weighted
    by class share, or macro)."""
    from sklearn.metrics import average_precision_score
    from sklearn.preprocessing import label_binarize

    indicators = label_binarize(np.asarray(y_true), classes=list(classes))
    return float(average_precision_score(indicators, proba, average=average))


def classification(
    y_true: pd.Series | np.ndarray,
    proba: np.ndarray,
    classes: np.ndarray,
    *,
    positive: Any = None,
    predicted: np.ndarray | None = None,
) -> dict[str, float]:
    """Holdout metrics from class probabilities (columns ordered as ``classes``). ``positive``: a binary target's
    positive class (default: the second label); ``predicted``: the labels (default: the most probable class)."""
    import numpy as np
    from sklearn import metrics as skm

    if predicted is None:
        predicted = classes[np.argmax(proba, axis=1)]
    binary = len(classes) == 2
    average = "binary" if binary else "weighted"
    pos_label = (positive if positive is not None else classes[1]) if binary else 1
    column = [c.item() if hasattr(c, "item") else c for c in classes].index(pos_label) if binary else 1

    def auc(how: str) -> float:
        if binary:
            return float(skm.roc_auc_score(y_true, proba[:, 1]))
        return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", average=how, labels=classes))

    def ap(how: str) -> float:
        if binary:
            return float(skm.average_precision_score(np.asarray(y_true) == pos_label, proba[:, column]))
        return one_vs_rest_average_precision(y_true, proba, classes=classes, average=how)

    def scored(function: Callable[..., Any], how: str) -> float:
        extra = {"pos_label": pos_label} if how == "binary" else {}
        return float(function(y_true, predicted, average=how, zero_division=0, **extra))

    return {
        "roc_auc": auc("weighted"),
        "roc_auc_macro": auc("macro"),
        "average_precision": ap("weighted"),
        "average_precision_macro": ap("macro"),
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
