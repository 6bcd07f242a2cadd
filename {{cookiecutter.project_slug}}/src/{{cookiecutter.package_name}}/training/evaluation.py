"""Holdout scores: a model's metrics (the task's own, core/metrics.py), the registry's champion on the same holdout,
and a model that ignores the features, which the gate's candidate must beat.

evaluate writes these to reports/metrics.json (core/reports.HoldoutMetrics); review scores the champion again
when it moved since. When the champion was trained on another feature schema or task it is not scored: its entry
names the change instead (``schema_change``), for the gate's rule (core/gate.py).
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


def champion_metrics(
    cfg: Config, client: MlflowClient, X: pd.DataFrame, y: pd.Series, schema: Schema
) -> ChampionScores | None:
    """The champion's metrics on this holdout; its schema change instead when it was trained on other features or
    another task; None when there is no champion yet."""
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
    if change:
        log.warning("champion version %s has another schema: %s", version.version, change.describe())
        return ChampionScores(version=number, schema_change=change.report())
    try:
        found, _ = score(model, X, y, schema)
    except Exception as error:
        log.warning("champion version %s could not be scored on this holdout: %s", version.version, error)
        return ChampionScores(version=number, error=str(error))
    return ChampionScores.model_validate({"version": number, **found})


def baseline_metrics(train: pd.DataFrame, X: pd.DataFrame, y: pd.Series, schema: Schema) -> dict[str, float]:
    """A model that ignores the features (the training classes' prior, or the training mean) on the holdout."""
    dummy = metrics.TASKS[schema.task].baseline()
    dummy.fit(np.zeros((len(train), 1)), train[schema.target])
    found, _ = score(dummy, np.zeros((len(X), 1)), y, schema)
    return found
