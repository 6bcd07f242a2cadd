"""A binary classifier's decision threshold, tuned on cross-validation (params.yaml ``train.threshold``), and the
logged model that applies it.

``tune`` predicts every training row out of fold (the search's seeded folds, the best trial's pipeline; above
TUNING_ROWS rows, a seeded sample of that many) and picks the threshold on those probabilities of the positive class
(the feature schema's ``positive_class``):

- ``f1``: the best F1 of the positive class;
- ``precision_at_recall: R``: the best precision among thresholds that keep recall at least R;
- ``recall_at_precision: P``: the best recall among thresholds that keep precision at least P (when none reaches
  P the model keeps the most probable class, and the log says so);
- ``none``: no threshold: each row is its most probable class.

scikit-learn's ``TunedThresholdClassifierCV`` does the same for a single score to maximise; the two constrained
objectives need the whole precision-recall curve, so it is computed here, once, on the pooled out-of-fold
probabilities. The threshold sits halfway between the chosen probability and the next lower one seen, so no
training probability lies on it.

``wrap`` puts the pipeline inside scikit-learn's ``FixedThresholdClassifier``: the logged model's own ``predict``
applies the threshold (``mlflow models serve``, a notebook), its ``predict_proba`` is the pipeline's, and
``models.unwrap`` hands the pipeline back to what needs it bare (the ONNX export, the device switch). Everything else applies the
threshold from the feature schema (core/decision.py), the same rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core import metrics
from ..core.decision import Threshold, ThresholdTuning
from ..core.schema import Schema
from .models import threads_for

log = logging.getLogger(__name__)
# Rows predicted out of fold at most: a larger training split is sampled (the auto search's seeded row order, so its
# largest rung's rows). On all 800,000 training rows of a generated 1M-row table, five fits of 640,000 rows plus the
# refit took 188 s of the pipeline (at a load of 5 on 2 cores), for one number.
TUNING_ROWS = 100_000


@dataclass(frozen=True)
class Tuned:
    """The threshold ``tune`` chose (None: the most probable class), and the out-of-fold precision, recall and F1
    of the positive class at it and at the most probable class (``*_at_0.5``)."""

    threshold: Threshold | None
    scores: dict[str, float] = field(default_factory=dict)


def _at(positive: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    hits = float(np.sum(positive & predicted))
    precision = hits / max(float(np.sum(predicted)), 1.0)
    recall = hits / max(float(np.sum(positive)), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def choose(positive: np.ndarray, scores: np.ndarray, tuning: ThresholdTuning) -> float | None:
    """The threshold on ``scores`` (the positive class's probabilities) for the objective, given which rows are
    positive; None when the objective is none or cannot be met."""
    from sklearn.metrics import precision_recall_curve

    if tuning.objective == "none" or positive.all() or not positive.any():
        return None
    precision, recall, cuts = precision_recall_curve(positive, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    if tuning.objective == "f1":
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
        index = int(np.argmax(f1))
    elif tuning.objective == "precision_at_recall":
        allowed = np.flatnonzero(recall >= float(tuning.target or 0))  # recall falls as the threshold rises
        best = precision[allowed].max()
        index = int(allowed[precision[allowed] == best].max())  # the highest threshold with that precision
    else:
        allowed = np.flatnonzero(precision >= float(tuning.target or 0))
        if not len(allowed):
            return None
        index = int(allowed.min())  # the lowest threshold that keeps the precision has the best recall
    below = cuts[index - 1] if index else 0.0
    return float((cuts[index] + below) / 2)


def tune(
    estimator: Any,
    X: pd.DataFrame,
    y: pd.Series,
    schema: Schema,
    tuning: ThresholdTuning,
    *,
    folds: int,
    seed: int,
    out_of_fold: np.ndarray | None = None,
) -> Tuned:
    """The threshold of the (unfitted) ``estimator`` for ``tuning``, from out-of-fold probabilities. ``out_of_fold``:
    those probabilities already computed for the seeded sample (the auto search's top rung), used without a fit."""
    from sklearn.model_selection import cross_val_predict

    if len(schema.classes) != 2 or schema.positive_class is None or tuning.objective == "none":
        if tuning.objective != "none":
            log.info("threshold: none (train.threshold applies to a binary target; %d classes)", len(schema.classes))
        return Tuned(None)
    if len(X) > TUNING_ROWS or out_of_fold is not None:
        rows = np.random.default_rng(seed).permutation(len(X))[:TUNING_ROWS]
        log.info("threshold: tuned on %d of the %d training rows (a seeded order)", len(rows), len(X))
        X, y = X.iloc[rows], y.iloc[rows]
    if out_of_fold is not None and out_of_fold.shape[0] == len(X) and not np.isnan(out_of_fold).any():
        log.info("threshold: on the search's out-of-fold probabilities of the model it chose (no fit)")
        proba = out_of_fold
    else:
        splitter = metrics.TASKS[schema.task].folds(folds, seed)
        with threads_for(len(X)):
            proba = cross_val_predict(estimator, X, y, cv=splitter, method="predict_proba")
    column = list(schema.classes).index(schema.positive_class)
    scores, positive = proba[:, column], np.asarray(y) == schema.positive_class
    value = choose(positive, scores, tuning)
    most_probable = np.asarray(schema.labels(proba)) == schema.positive_class
    found = dict(zip(("precision_at_0.5", "recall_at_0.5", "f1_at_0.5"), _at(positive, most_probable), strict=True))
    if value is None:
        log.warning(
            "threshold: no threshold meets train.threshold %s on cross-validation; each row keeps its most probable "
            "class (out of fold: precision %.3f, recall %.3f)",
            tuning.describe,
            found["precision_at_0.5"],
            found["recall_at_0.5"],
        )
        return Tuned(None, found)
    precision, recall, f1 = _at(positive, scores >= value)
    found |= {"precision": precision, "recall": recall, "f1": f1}
    log.info(
        "threshold %.4f for %s (positive class %r): out of fold precision %.3f, recall %.3f, f1 %.3f "
        "(most probable class: %.3f, %.3f, %.3f)",
        value,
        tuning.describe,
        schema.positive_class,
        precision,
        recall,
        f1,
        found["precision_at_0.5"],
        found["recall_at_0.5"],
        found["f1_at_0.5"],
    )
    return Tuned(Threshold(value, tuning.describe), found)


def wrap(estimator: Any, schema: Schema, threshold: Threshold | None) -> Any:
    """The estimator inside a FixedThresholdClassifier at ``threshold`` (its positive class the schema's); as it is
    without one."""
    from sklearn.model_selection import FixedThresholdClassifier

    if threshold is None:
        return estimator
    return FixedThresholdClassifier(
        estimator, threshold=threshold.value, pos_label=schema.positive_class, response_method="predict_proba"
    )
