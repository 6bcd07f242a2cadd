"""The served model: a champion from the BentoML store, loaded once, answering with labels and probabilities.

It runs on onnxruntime when the stored model has an ONNX export whose parity held at registration
(training/onnx_export.py) and onnxruntime is installed, else on the scikit-learn pipeline; ``runtime_name`` says which,
and loading logs it. Before anything is opened, every file of the stored model is checked against the sha256
manifests its metadata carries (``files``: the ones register recorded on the version, champion.py), and the
scikit-learn model is rebuilt by skops with the trusted types in code, never unpickled (tracking/model_files.py).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.metrics import TASKS
from ..core.schema import Schema
from ..tracking import model_files
from .runtime import ONNX, SKLEARN, OnnxRuntime, SklearnRuntime, columns_of, columns_of_rows

log = logging.getLogger(__name__)

MLFLOW_FOLDER = "mlflow_model"  # the MLflow (scikit-learn) model inside a stored model
ONNX_FOLDER = "onnx_model"  # the MLflow ONNX model beside it, when its parity held (champion.py)
ONNX_FILE = "model.onnx"  # MLflow's onnx flavour keeps the model in this file
FILES = "files"  # the stored model's metadata: folder -> its sha256 manifest (tracking/model_files.py)


@dataclass(frozen=True)
class ServedModel:
    """A loaded champion: what runs it (onnxruntime or scikit-learn), its schema, and the registry name and version."""

    runtime: OnnxRuntime | SklearnRuntime
    schema: Schema
    name: str
    version: str

    @property
    def classification(self) -> bool:
        return TASKS[self.schema.task].has_classes

    @property
    def runtime_name(self) -> str:
        return self.runtime.name

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions for a conformed frame, and class probabilities (columns in ``schema.classes`` order)."""
        return self.predict_columns(columns_of(frame, self.schema))

    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions for one array per feature, as ``conform`` makes them (the batch job decodes them itself)."""
        return self.runtime.predict(columns)

    def predict_rows(self, rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions for validated rows (the feature values in the schema's order: number, text or None): no
        DataFrame on the fast path."""
        return self.predict_columns(columns_of_rows(rows, self.schema))


def stored_schema(stored: Any) -> Schema:
    """The feature schema a stored model carries in its metadata (Schema.to_dict)."""
    return Schema.from_dict(stored.info.metadata)


def onnx_path(stored: Any) -> Path | None:
    """The stored model's ONNX file, when it has one whose parity held at registration."""
    if stored.info.metadata.get("onnx", {}).get("parity") != "held":
        return None
    path = Path(stored.path_of(ONNX_FOLDER)) / ONNX_FILE
    return path if path.is_file() else None


_LOADED: dict[str, str] = {}  # stored model tag -> the runtime load() ended up with in this process


def planned_runtime(stored: Any) -> str:
    """The runtime a stored model runs on in this process: what ``load`` chose, or (not loaded yet) would choose:
    onnxruntime for an ONNX export whose parity held (and onnxruntime installed), else scikit-learn."""
    return _LOADED.get(str(stored.tag)) or _plan(stored)


def _plan(stored: Any) -> str:
    if onnx_path(stored) is not None and importlib.util.find_spec("onnxruntime") is not None:
        return ONNX
    return SKLEARN


def load(stored: Any, runtime: str | None = None) -> ServedModel:
    """A stored model (``bentoml.models.get(tag)`` or a service's ``BentoModel``), ready to predict.

    ``runtime`` forces one (``"scikit-learn"``); by default onnxruntime when the stored model has an ONNX export
    whose parity held, with scikit-learn as the fallback when onnxruntime cannot open the file.
    """
    meta = stored.info.metadata
    schema = stored_schema(stored)
    name, version = meta["registered_model"], meta["registered_version"]
    check_files(stored)
    chosen = runtime or _plan(stored)
    why = "" if chosen == ONNX else _why_not_onnx(stored, forced=runtime is not None)
    exported = onnx_path(stored)
    if chosen == ONNX and exported is None:
        why = f"the stored model has no {ONNX_FOLDER}/{ONNX_FILE} whose parity held"
    if chosen == ONNX and exported is not None:
        try:
            served = ServedModel(OnnxRuntime(exported.read_bytes(), schema), schema, name, version)
        except Exception as error:  # a broken file or an operator this onnxruntime lacks: scikit-learn answers
            why = f"onnxruntime could not open {ONNX_FOLDER}/{ONNX_FILE}: {error}"
        else:
            log.info("%s v%s runs on onnxruntime (ONNX export, parity held at registration)", name, version)
            _LOADED[str(stored.tag)] = ONNX
            return served
    model = model_files.load_sklearn(Path(stored.path_of(MLFLOW_FOLDER)))
    log.info("%s v%s runs on scikit-learn (%s)", name, version, why)
    _LOADED[str(stored.tag)] = SKLEARN
    return ServedModel(SklearnRuntime(model, schema), schema, name, version)


def check_files(stored: Any) -> None:
    """Refuse a stored model whose folders differ from the manifests in its metadata (or that has none)."""
    meta = stored.info.metadata
    what = f"{meta['registered_model']} v{meta['registered_version']} in the BentoML store ({stored.tag})"
    manifests = meta.get(FILES)
    if not isinstance(manifests, dict) or MLFLOW_FOLDER not in manifests:
        raise model_files.UntrustedModel(
            f"{what} carries no sha256 manifest (imported by an older version of this project): import it again "
            f"(python -m {__package__.split('.')[0]} import-model)"
        )
    for folder in (MLFLOW_FOLDER, ONNX_FOLDER):
        if folder in manifests:
            model_files.check(Path(stored.path_of(folder)), manifests[folder], f"{what}, {folder}")
        elif folder != ONNX_FOLDER or Path(stored.path_of(folder)).exists():
            raise model_files.ModelFilesChanged(f"{what}: {folder} has no manifest; refusing to load it")


def _why_not_onnx(stored: Any, *, forced: bool) -> str:
    if forced:
        return "asked for"
    onnx = stored.info.metadata.get("onnx", {})
    if onnx.get("parity") != "held":
        return onnx.get("reason") or "no ONNX export registered with this version"
    if onnx_path(stored) is None:
        return f"{ONNX_FOLDER}/{ONNX_FILE} is missing from the stored model"
    return "onnxruntime is not installed"
