"""Holdout scores: a model's metrics (the task's own, core/metrics.py), the registry's champion on the same holdout,
and a model that ignores the features, which the gate's candidate must beat.

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
from ..core.reports import ChampionScores
from ..core.schema import Schema
from ..tracking import model_files, registry
from . import features

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


def score(
    model: Any, X: pd.DataFrame | np.ndarray, y: pd.Series, schema: Schema
) -> tuple[dict[str, float], np.ndarray]:
    """Holdout metrics, plus the class probabilities (classification) or predictions (regression)."""
    from .models import threads_for  # scikit-learn's estimators: loading the model imports them anyway

    with threads_for(len(X)):
        return metrics.TASKS[schema.task].score(model, X, y)


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
    try:
        found, _ = score(model, features.conform(holdout, theirs), holdout[schema.target], theirs)
    except Exception as error:
        log.warning("champion version %s could not be scored on this holdout: %s", version.version, error)
        return ChampionScores(version=number, error=str(error), schema_change=report)
    return ChampionScores.model_validate({"version": number, "schema_change": report, **found})


def baseline_metrics(train: pd.DataFrame, X: pd.DataFrame, y: pd.Series, schema: Schema) -> dict[str, float]:
    """A model that ignores the features (the training classes' prior, or the training mean) on the holdout."""
    dummy = metrics.TASKS[schema.task].baseline()
    dummy.fit(np.zeros((len(train), 1)), train[schema.target])
    found, _ = score(dummy, np.zeros((len(X), 1)), y, schema)
    return found
