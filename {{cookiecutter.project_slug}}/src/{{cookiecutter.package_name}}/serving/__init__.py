"""Serving: the MLflow champion in the project's BentoML model store, and the one loader that the real-time
service (serving/service.py) and the batch job (batch.py) share.

``import_champion()`` copies the registry's `champion` into the BentoML store (``BENTOML_HOME``, .bentoml/ in the
project) as ``<model name>:v<version>``, with the feature schema in its metadata, and makes it the store's
latest; ``load()`` turns a stored model back into a ``ServedModel``. Moving `champion` in the registry and
importing again is all it takes to serve another version: no code changes.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("BENTOML_HOME", str(Path(".bentoml").absolute()))
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from .. import features
from ..config import Config, UserError

log = logging.getLogger(__name__)
MLFLOW_FOLDER = "mlflow_model"  # where bentoml.mlflow.import_model puts the MLflow model inside a stored model
NUMERIC_TYPES = {"double", "float", "long", "integer"}


def store_name(model_name: str) -> str:
    """The registered model's name as a BentoML tag name (lower case letters, digits, '-', '_' and '.')."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", model_name.lower()).strip("-_.")
    return name[:63] or "model"


def schema_from_signature(signature: Any, model: Any) -> features.Schema:
    """The feature schema the model was logged with: names and kinds from its MLflow signature, classes from the
    fitted estimator. It travels with the model, so an older champion keeps its own schema."""
    columns = signature.inputs.to_dict()
    kinds = [
        features.Feature(
            name=column["name"],
            kind="numeric" if column["type"] in NUMERIC_TYPES else "categorical",
            dtype="float64" if column["type"] in NUMERIC_TYPES else "object",
        )
        for column in columns
    ]
    classes = getattr(model, "classes_", None)
    task = "classification" if classes is not None else "regression"
    labels = tuple(c.item() if hasattr(c, "item") else c for c in classes) if classes is not None else ()
    return features.Schema(target="", task=task, features=tuple(kinds), classes=labels)


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


def _metadata(schema: features.Schema, version: Any, model_uri: str) -> dict[str, Any]:
    return {
        "registered_model": version.name,
        "registered_version": str(version.version),
        "run_id": version.run_id or "",
        "source": model_uri,
        "task": schema.task,
        "classes": list(schema.classes),
        "features": [{"name": f.name, "kind": f.kind, "dtype": f.dtype} for f in schema.features],
    }


def import_champion(cfg: Config) -> Any:
    """Copy the registry's `champion` into the BentoML store (once per version) and make it the latest there."""
    import bentoml
    import mlflow

    from .. import tracking

    uri = cfg.tracking.resolved_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, uri)  # read-only: no experiment to select (that costs seconds on SQLite)
    name = cfg.tracking.model_name
    version = tracking.version_by_alias(client, name, tracking.CHAMPION)
    if version is None:
        raise UserError(
            f"no `{tracking.CHAMPION}` in the registry for {name!r}: run the pipeline first (make pipeline)"
        )
    tag = bentoml.Tag(store_name(name), f"v{version.version}")
    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        stored = None
    if stored is not None:
        latest = bentoml.models.get(f"{tag.name}:latest")
        if latest.tag == stored.tag:
            return stored
        bentoml.models.delete(tag)  # a rollback: import it again so it becomes the latest
    model_uri = f"models:/{name}/{version.version}"
    info = mlflow.models.get_model_info(model_uri)
    schema = schema_from_signature(info.signature, mlflow.sklearn.load_model(model_uri))
    stored = bentoml.mlflow.import_model(
        tag,
        model_uri=model_uri,
        labels={"registry_alias": tracking.CHAMPION, "registered_version": str(version.version)},
        metadata=_metadata(schema, version, model_uri),
    )
    log.info("imported %s v%s (champion) into the BentoML store as %s", name, version.version, stored.tag)
    return stored


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
    import mlflow

    meta = stored.info.metadata
    model = mlflow.sklearn.load_model(stored.path_of(MLFLOW_FOLDER))
    return ServedModel(model, stored_schema(stored), meta["registered_model"], meta["registered_version"])


def champion(cfg: Config) -> ServedModel:
    """The current champion, imported into the store if needed, loaded."""
    return load(import_champion(cfg))


def request_predictions(
    cfg: Config, url: str, input_path: Path | str, *, rows: int = 3, wait: float = 120
) -> list[dict[str, Any]]:
    """Send the first ``rows`` rows of a CSV/Parquet file to a running service's POST /predict (a client's view).

    Only the served model's feature columns are sent (a holdout file also has the target). Waits up to ``wait``
    seconds for the service to be ready.
    """
    import time

    import bentoml

    from ..tables import read_table

    stored = bentoml.models.get(f"{store_name(cfg.tracking.model_name)}:latest")
    names = stored_schema(stored).names
    frame = read_table(Path(input_path))[names].head(rows)
    records = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]
    deadline = time.monotonic() + wait
    while True:
        try:
            with bentoml.SyncHTTPClient(url, timeout=60) as client:
                if client.is_ready():
                    return client.predict(records=records)
        except Exception as error:  # not listening yet (connection refused) or still starting
            log.debug("service not ready yet: %s", error)
        if time.monotonic() > deadline:
            raise UserError(f"no service ready at {url} after {wait:.0f}s (start one with make serve)")
        time.sleep(0.5)
