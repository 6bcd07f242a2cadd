"""Holdout scores: a model's metrics (the task's own, core/metrics.py), the registry's champion on the same holdout,
and a model that ignores the features, which the gate's candidate must beat (its average precision is the
positive share, its ROC AUC 0.5); for a binary target, precision, recall and f1 at the tuned threshold and at 0.5.

evaluate writes these to reports/metrics.json (core/reports.HoldoutMetrics); review scores the champion again
when it moved since. A champion trained on other features is scored on the same holdout rows with its own columns
(the holdout keeps every raw column), its entry naming the change (``schema_change``); only when that is impossible,
because the columns it needs are gone, or the target, its classes or the task changed, is it not scored, and
``unscorable`` says why, for the gate's rule (core/gate.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core import metrics
from ..core.config import Config
from ..core.gate import schema_change
from ..core.reports import AtThreshold, ChampionScores, ThresholdReport
from ..core.schema import Schema
from ..tracking import model_files, registry
from . import features

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


def score(
    model: Any, X: pd.DataFrame | np.ndarray, y: pd.Series, schema: Schema, rule: Schema | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Holdout metrics, plus the class probabilities (classification) or predictions (regression); labels by
    ``rule``'s decision rule (default ``schema``'s, core/decision.py)."""
    from .models import threads_for  # scikit-learn's estimators: loading the model imports them anyway

    with threads_for(len(X)):
        return metrics.TASKS[schema.task].score(model, X, y, schema, rule)


def threshold_report(y: pd.Series, proba: np.ndarray, schema: Schema) -> ThresholdReport | None:
    """A binary target's precision, recall and f1 of the positive class at the tuned threshold the model applies
    and at the most probable class (0.5); None for other targets."""
    if schema.positive_class is None or len(schema.classes) != 2:
        return None
    from sklearn.metrics import precision_recall_fscore_support

    def at(labels: np.ndarray) -> AtThreshold:
        precision, recall, f1, _ = precision_recall_fscore_support(
            y, labels, pos_label=schema.positive_class, average="binary", zero_division=0
        )
        return AtThreshold(precision=float(precision), recall=float(recall), f1=float(f1))

    tuned = schema.threshold
    return ThresholdReport(
        positive_class=schema.positive_class,
        threshold=tuned.value if tuned is not None else None,
        objective=tuned.objective if tuned is not None else None,
        at_threshold=at(schema.labels(proba)),
        at_0_5=at(schema.with_threshold(None).labels(proba)),
    )


def unscorable(champion: Schema, candidate: Schema, holdout: pd.DataFrame) -> str | None:
    """Why the champion cannot be scored on the candidate's holdout rows (None: it can)."""
    if champion.task != candidate.task:
        return f"another task: {champion.task} -> {candidate.task}"
    if champion.target and champion.target != candidate.target:
        return f"another target: {champion.target} -> {candidate.target}"
    if {str(c) for c in champion.classes} != {str(c) for c in candidate.classes}:
        return "other classes of the target"
    gone = [name for name in champion.names if name not in holdout.columns]
    if gone:
        return f"the columns it needs are gone from the data: {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}"
    return None


def champion_metrics(cfg: Config, client: MlflowClient, holdout: pd.DataFrame, schema: Schema) -> ChampionScores | None:
    """The champion's metrics on the candidate's holdout rows (``holdout``: as prepare wrote it), with its own
    columns; why it cannot be scored instead, when it cannot; None when there is no champion yet."""
    version = registry.champion(client, cfg.tracking.model_name)
    if version is None:
        return None
    number = int(version.version)
    uri = registry.version_uri(version)
    try:
        model = model_files.load_version(version)  # its files checked against the manifest, never unpickled
        theirs = registry.version_schema(version, uri, model)
    except Exception as error:  # a champion that cannot be loaded cannot be compared; the gate says so
        log.warning("champion version %s could not be loaded: %s", version.version, error)
        return ChampionScores(version=number, error=str(error))
    change = schema_change(theirs, schema)
    report = change.report() if change else None
    why = unscorable(theirs, schema, holdout)
    if why is not None:
        log.warning(
            "champion version %s cannot be scored on this holdout: %s (%s)", version.version, why, change.describe()
        )
        return ChampionScores(version=number, schema_change=report, unscorable=why)
    if change:
        log.info(
            "champion version %s has other features (%s): scored with its own columns",
            version.version,
            change.describe(),
        )
    try:  # its labels by its own decision rule (threshold), its metrics of the candidate's positive class
        found, _ = score(model, features.conform(holdout, theirs), holdout[schema.target], schema, rule=theirs)
    except Exception as error:
        log.warning("champion version %s could not be scored on this holdout: %s", version.version, error)
        return ChampionScores(version=number, error=str(error), schema_change=report)
    return ChampionScores.model_validate({"version": number, "schema_change": report, **found})


def baseline_metrics(train: pd.DataFrame, X: pd.DataFrame, y: pd.Series, schema: Schema) -> dict[str, float]:
    """A model that ignores the features (the training classes' prior, or the training mean) on the holdout."""
    dummy = metrics.TASKS[schema.task].baseline()
    dummy.fit(np.zeros((len(train), 1)), train[schema.target])
    found, _ = score(dummy, np.zeros((len(X), 1)), y, schema.with_threshold(None))  # its own labels: the majority
    return found
