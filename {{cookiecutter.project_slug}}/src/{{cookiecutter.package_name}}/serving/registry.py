"""The registry's `champion` in the project's BentoML model store: imported once per version, as the store's latest.

``import_champion()`` copies it as ``<model name>:v<version>`` with its feature schema in the metadata; moving
`champion` in the registry and importing again is all it takes to serve another version (or to roll back).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .. import environment, features, tracking
from ..config import Config, UserError
from . import aliases
from .model import ServedModel, load

log = logging.getLogger(__name__)


def store_name(model_name: str) -> str:
    """The registered model's name as a BentoML tag name (lower case letters, digits, '-', '_' and '.')."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", model_name.lower()).strip("-_.")
    return name[:63] or "model"


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


def _stored_champion(cfg: Config) -> Any | None:
    """The champion, when the BentoML store has it as its latest already, found without importing MLflow (aliases.py);
    None when it is not there, or when only the MLflow client can tell."""
    name = cfg.tracking.model_name
    try:
        version = aliases.version(cfg.tracking.resolved_uri, name, tracking.CHAMPION)
    except aliases.Unsupported as why:
        log.debug("champion lookup through MLflow: %s", why)
        return None
    if version is None:
        return None
    import bentoml

    tag = bentoml.Tag(store_name(name), f"v{version}")
    try:
        stored, latest = bentoml.models.get(tag), bentoml.models.get(f"{tag.name}:latest")
    except bentoml.exceptions.NotFound:
        return None
    return stored if latest.tag == stored.tag else None


def import_champion(cfg: Config) -> Any:
    """Copy the registry's `champion` into the BentoML store (once per version) and make it the latest there."""
    environment.configure()
    stored = _stored_champion(cfg)
    if stored is not None:
        return stored
    import bentoml
    import mlflow

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
    schema = features.from_signature(info.signature, mlflow.sklearn.load_model(model_uri))
    stored = bentoml.mlflow.import_model(
        tag,
        model_uri=model_uri,
        labels={"registry_alias": tracking.CHAMPION, "registered_version": str(version.version)},
        metadata=_metadata(schema, version, model_uri),
    )
    log.info("imported %s v%s (champion) into the BentoML store as %s", name, version.version, stored.tag)
    return stored


def champion(cfg: Config) -> ServedModel:
    """The current champion, imported into the store if needed, loaded."""
    return load(import_champion(cfg))
