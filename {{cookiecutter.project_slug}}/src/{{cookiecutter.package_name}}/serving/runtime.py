"""What runs the served model: onnxruntime on the exported pipeline (the fast path) or the scikit-learn pipeline.

Both take the rows as one numpy array per feature (``columns_of`` from a conformed frame, ``columns_of_rows``
from the service's validated records, without a DataFrame) and answer class probabilities (classification) or
values (regression), so the service, the batch job and Spark share one call. Labels are made from the
probabilities after, once, by the served model (model.ServedModel: the schema's decision rule, its tuned
threshold included), whichever runtime answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.metrics import TASKS
from ..core.schema import Schema
from ..training import onnx_export

ONNX = "onnxruntime"
SKLEARN = "scikit-learn"


def columns_of(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """One array per feature of a conformed frame (training/features.conform)."""
    return {name: frame[name].to_numpy() for name in schema.names}


def columns_of_rows(rows: Sequence[Sequence[Any]], schema: Schema) -> dict[str, np.ndarray]:
    """One array per feature of validated rows (each row: its feature values in the schema's order, numbers or None,
    text or None), as ``conform`` would make them: numbers as float64 with NaN for missing, text as objects with NaN
    for missing (and for empty text). One matrix, cut into columns: a third of the time of a list per feature."""
    shape = (len(rows), len(schema.features))
    if all(feature.kind == "numeric" for feature in schema.features):
        matrix = np.array(rows, dtype="float64").reshape(shape)  # None becomes NaN
        return {feature.name: matrix[:, j] for j, feature in enumerate(schema.features)}
    mixed = np.array(rows, dtype=object).reshape(shape)
    columns = {}
    for j, feature in enumerate(schema.features):
        if feature.kind == "numeric":
            columns[feature.name] = mixed[:, j].astype("float64")  # None becomes NaN
        else:
            columns[feature.name] = np.array([v or np.nan for v in mixed[:, j]], dtype=object)
    return columns


class OnnxRuntime:
    """The exported pipeline in an onnxruntime session (one thread). Pickles as its ONNX bytes (Spark broadcasts it)."""

    name = ONNX

    def __init__(self, onnx_bytes: bytes, schema: Schema) -> None:
        self._open(onnx_bytes, schema)

    def _open(self, onnx_bytes: bytes, schema: Schema) -> None:
        self.onnx_bytes = onnx_bytes
        self.schema = schema
        self.session = onnx_export.session(onnx_bytes)

    def outputs(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (columns in ``schema.classes`` order) or predicted values, float64."""
        return onnx_export.outputs(self.session, dict(columns), self.schema)

    def __getstate__(self) -> dict[str, Any]:
        return {"onnx_bytes": self.onnx_bytes, "schema": self.schema}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._open(state["onnx_bytes"], state["schema"])


class SklearnRuntime:
    """The fitted scikit-learn pipeline (needs a DataFrame: it selects its columns by name)."""

    name = SKLEARN

    def __init__(self, model: Any, schema: Schema) -> None:
        self.model = model
        self.schema = schema

    def outputs(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (columns in ``classes_`` order, the schema's) or predicted values, float64."""
        frame = pd.DataFrame({name: columns[name] for name in self.schema.names})
        if TASKS[self.schema.task].has_classes:
            return np.asarray(self.model.predict_proba(frame), dtype="float64")
        return np.asarray(self.model.predict(frame), dtype="float64")
