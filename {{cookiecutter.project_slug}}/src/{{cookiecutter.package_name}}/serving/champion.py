"""The registry's `champion` in the project's BentoML model store, imported once per version as the store's latest,
and loaded: ``champion(cfg)`` is the one way the service's tools and the batch jobs get the model they serve.

``import_champion()`` copies it as ``<model name>:v<version>`` with its feature schema in the metadata
(core/schema.Schema.to_dict, from the `features.json` artifact register logged in the version's run); moving
`champion` in the registry and importing again is all it takes to serve another version (or to roll back).
The ONNX export register logged beside the scikit-learn model comes along when its parity held (tag
``onnx.parity`` = held): model.py then serves it with onnxruntime. Each folder is checked against the sha256 manifest
register recorded on the version before the import is committed, and the manifests go into the stored model's
metadata (``files``), which model.load checks again before it opens anything (tracking/model_files.py).

When the store's latest already is the champion, neither step imports MLflow: the registry's alias is read
directly (tracking/aliases.py), and ``champion()`` reads the store's folder without BentoML (bento_folder.py).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ..core import environment
from ..core.config import Config
from ..core.schema import Schema
from ..tracking import aliases, model_files, registry, runs
from . import bento_folder
from .model import FILES, MLFLOW_FOLDER, ONNX_FOLDER, ServedModel, load

log = logging.getLogger(__name__)


def store_name(model_name: str) -> str:
    """The registered model's name as a BentoML tag name (lower case letters, digits, '-', '_' and '.')."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", model_name.lower()).strip("-_.")
    return name[:63] or "model"


def _metadata(schema: Schema, version: Any, model_uri: str) -> dict[str, Any]:
    tags = version.tags or {}
    return {
        "registered_model": version.name,
        "registered_version": str(version.version),
        "run_id": version.run_id or "",
        "source": model_uri,
        **schema.to_dict(),  # target, task, features, classes: model.stored_schema reads them with Schema.from_dict
        "onnx": {
            "parity": tags.get("onnx.parity", "none"),
            "reason": tags.get("onnx.reason", ""),
            "detail": tags.get("onnx.parity.detail", ""),
            "source": tags.get("onnx.model_uri", ""),
        },
    }


def _stored(cfg: Config, version: str | None) -> Any | None:
    """The champion (``version``, read without MLflow), when the BentoML store has it as its latest already; None
    when it is not there, or when only the MLflow client can tell (``version`` None)."""
    if version is None:
        return None
    import bentoml

    tag = bentoml.Tag(store_name(cfg.tracking.model_name), f"v{version}")
    try:
        stored, latest = bentoml.models.get(tag), bentoml.models.get(f"{tag.name}:latest")
    except bentoml.exceptions.NotFound:
        return None
    return stored if latest.tag == stored.tag and FILES in stored.info.metadata else None


def import_champion(cfg: Config) -> Any:
    """Copy the registry's `champion` into the BentoML store (once per version) and make it the latest there."""
    return _import(cfg, aliases.champion_version(cfg.tracking))


def _import(cfg: Config, known: str | None) -> Any:
    environment.configure()
    stored = _stored(cfg, known)
    if stored is not None:
        return stored
    import bentoml
    import mlflow

    uri = cfg.tracking.resolved_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = runs.client(uri)  # read-only: no experiment to select (that costs seconds on SQLite)
    name = cfg.tracking.model_name
    version = registry.require_champion(client, name)
    tag = bentoml.Tag(store_name(name), f"v{version.version}")
    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        stored = None
    if stored is not None:
        latest = bentoml.models.get(f"{tag.name}:latest")
        if latest.tag == stored.tag and FILES in stored.info.metadata:
            return stored
        bentoml.models.delete(tag)  # a rollback (import it again so it becomes the latest), or imported unchecked
    model_uri = registry.version_uri(version)
    metadata = _metadata(registry.version_schema(version, model_uri), version, model_uri)
    with_onnx = metadata["onnx"]["parity"] == "held" and bool(metadata["onnx"]["source"])
    metadata[FILES] = model_files.version_manifests(version, MLFLOW_FOLDER, ONNX_FOLDER if with_onnx else None)
    with bentoml.models.create(
        tag,
        labels={"registry_alias": aliases.CHAMPION, "registered_version": str(version.version)},
        metadata=metadata,
    ) as stored:  # an exception inside (a file that does not match its manifest) leaves nothing in the store
        model_files.fetch_version(version, Path(stored.path_of(MLFLOW_FOLDER)))
        if with_onnx:
            model_files.fetch_onnx(version, Path(stored.path_of(ONNX_FOLDER)))
    log.info(
        "imported %s v%s (champion) into the BentoML store as %s (%s)",
        name,
        version.version,
        stored.tag,
        "with its ONNX export" if with_onnx else f"no ONNX export: {metadata['onnx']['reason'] or 'parity not held'}",
    )
    return bentoml.models.get(tag)


def champion(cfg: Config) -> ServedModel:
    """The registry's champion, loaded: read from the BentoML store's folder when it is there already as the store's
    latest (neither MLflow nor BentoML imported), else imported into the store first."""
    version = aliases.champion_version(cfg.tracking)
    stored = None if version is None else bento_folder.latest(store_name(cfg.tracking.model_name), f"v{version}")
    current = stored is not None and FILES in stored.info.metadata  # else imported unchecked: import it again
    return load(stored) if current else load(_import(cfg, version))
