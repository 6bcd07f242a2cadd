"""The registry's `champion` in the project's BentoML model store: imported once per version, as the store's latest.

``import_champion()`` copies it as ``<model name>:v<version>`` with its feature schema in the metadata
(features.Schema.to_dict, from the `features.json` artifact register logged in the version's run); moving
`champion` in the registry and importing again is all it takes to serve another version (or to roll back).
The ONNX export register logged beside the scikit-learn model comes along when its parity held (tag
``onnx.parity`` = held): model.py then serves it with onnxruntime.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import environment, features, tracking
from ..config import Config, UserError
from . import aliases
from .model import MLFLOW_FOLDER, ONNX_FOLDER, ServedModel, load

log = logging.getLogger(__name__)


def store_name(model_name: str) -> str:
    """The registered model's name as a BentoML tag name (lower case letters, digits, '-', '_' and '.')."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", model_name.lower()).strip("-_.")
    return name[:63] or "model"


def _metadata(schema: features.Schema, version: Any, model_uri: str) -> dict[str, Any]:
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


def _download(uri: str, destination: Path) -> None:
    """An MLflow model's folder (``models:/...``) copied to ``destination``."""
    import mlflow

    scratch = tempfile.mkdtemp(dir=destination.parent)
    try:  # a models:/ download may hand back the scratch folder itself: move what it returns, then tidy up
        shutil.move(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch), destination)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
    client = tracking.client(uri)  # read-only: no experiment to select (that costs seconds on SQLite)
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
    metadata = _metadata(tracking.version_schema(version, model_uri), version, model_uri)
    with_onnx = metadata["onnx"]["parity"] == "held" and bool(metadata["onnx"]["source"])
    with bentoml.models.create(
        tag,
        labels={"registry_alias": tracking.CHAMPION, "registered_version": str(version.version)},
        metadata=metadata,
    ) as stored:
        _download(model_uri, Path(stored.path_of(MLFLOW_FOLDER)))
        if with_onnx:
            _download(metadata["onnx"]["source"], Path(stored.path_of(ONNX_FOLDER)))
    log.info(
        "imported %s v%s (champion) into the BentoML store as %s (%s)",
        name,
        version.version,
        stored.tag,
        "with its ONNX export" if with_onnx else f"no ONNX export: {metadata['onnx']['reason'] or 'parity not held'}",
    )
    return bentoml.models.get(tag)


def champion(cfg: Config) -> ServedModel:
    """The current champion, imported into the store if needed, loaded."""
    return load(import_champion(cfg))
