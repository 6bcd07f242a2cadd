"""The served model: a champion from the BentoML store, loaded once, answering with labels and probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import features

MLFLOW_FOLDER = "mlflow_model"  # where bentoml.mlflow.import_model puts the MLflow model inside a stored model


@dataclass(frozen=True)
class ServedModel:
    """A loaded champion: the fitted scikit-learn pipeline, its schema, and the registry name and version."""

    model: Any
    schema: features.Schema
    name: str
    version: str

    @property
    def classification(self) -> bool:
        return self.schema.task == "classification"

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions for a conformed frame, and class probabilities (columns in ``schema.classes`` order)."""
        if self.classification:
            probabilities = self.model.predict_proba(frame)
            return np.asarray(self.model.classes_)[np.argmax(probabilities, axis=1)], probabilities
        return np.asarray(self.model.predict(frame), dtype="float64"), None


def stored_schema(stored: Any) -> features.Schema:
    meta = stored.info.metadata
    return features.Schema(
        target="",
        task=meta["task"],
        features=tuple(features.Feature(**f) for f in meta["features"]),
        classes=tuple(meta["classes"]),
    )


def load(stored: Any) -> ServedModel:
    """A stored model (``bentoml.models.get(tag)`` or a service's ``BentoModel``), ready to predict."""
    from .mlflow_folder import load_sklearn  # no MLflow import for the skops models train logs

    meta = stored.info.metadata
    model = load_sklearn(stored.path_of(MLFLOW_FOLDER))
    return ServedModel(model, stored_schema(stored), meta["registered_model"], meta["registered_version"])
