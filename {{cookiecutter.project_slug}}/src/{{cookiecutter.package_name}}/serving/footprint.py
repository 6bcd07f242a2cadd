"""A model profiled as serving runs it (training/profiling.py measures): loaded by serving's own loaders in the
runtime model.py would pick (onnxruntime when the version's ONNX parity held, else scikit-learn), timed in this
process on the holdout, and loaded again in a fresh one: ``python -m <package>.serving.footprint RUNTIME PATH``,
whose peak memory is the project's serving code, the runtime and the model, and nothing of the caller's.

``profile_registered`` profiles a registered version from its tags and model URI (register, once per version);
``profile_files`` profiles files on disk (the review's dry run profiles a candidate that is not registered).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..core.reports import Profile
from ..core.schema import Schema
from ..training import features, profiling
from .model import ONNX_FILE
from .runtime import ONNX, SKLEARN, OnnxRuntime, SklearnRuntime, columns_of

SCHEMA_FILE = "features.json"  # beside the model in the scratch folder, for the fresh process


def runtime_for(parity_held: bool) -> str:
    """The runtime a version is served by (model.py's rule): onnxruntime when its ONNX parity held and onnxruntime is
    installed, else scikit-learn."""
    return ONNX if parity_held and importlib.util.find_spec("onnxruntime") is not None else SKLEARN


def load_runtime(runtime: str, path: Path, schema: Schema) -> OnnxRuntime | SklearnRuntime:
    """The model at ``path`` (model.onnx, or an MLflow scikit-learn model's folder) in ``runtime``."""
    if runtime == ONNX:
        return OnnxRuntime(path.read_bytes(), schema)
    from ..tracking.model_files import load_sklearn

    return SklearnRuntime(load_sklearn(path), schema)


def profile_files(runtime: str, path: Path, schema: Schema, holdout: pd.DataFrame) -> Profile:
    """Profile the model at ``path`` in ``runtime`` on the holdout rows (training/profiling.profile)."""
    columns = columns_of(features.conform(holdout, schema), schema)
    with tempfile.TemporaryDirectory(prefix="profile-") as scratch:
        schema_file = Path(scratch) / SCHEMA_FILE
        schema_file.write_text(json.dumps(schema.to_dict()))
        fresh = [sys.executable, "-m", __name__, runtime, str(path), str(schema_file)]
        return profiling.profile(runtime, load_runtime(runtime, path, schema), columns, [path], fresh)


def profile_registered(tags: Mapping[str, str], model_uri: str, schema: Schema, holdout: pd.DataFrame) -> Profile:
    """Profile a registered version: its ONNX file (``onnx.model_uri``) or its scikit-learn model, downloaded."""
    import mlflow

    runtime = runtime_for(tags.get("onnx.parity") == "held" and bool(tags.get("onnx.model_uri")))
    with tempfile.TemporaryDirectory(prefix="profile-model-") as scratch:
        uri = tags["onnx.model_uri"] if runtime == ONNX else model_uri
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        return profile_files(runtime, folder / ONNX_FILE if runtime == ONNX else folder, schema, holdout)


def profile_candidate(model_uri: str, schema: Schema, holdout: pd.DataFrame) -> Profile:
    """A candidate that is not registered (the review's dry run), profiled as register would: exported to ONNX and
    checked on the holdout (training/onnx_export.py), then profiled in the runtime that outcome picks."""
    import mlflow

    from ..tracking.model_files import load_logged
    from ..training import onnx_export
    from ..training.models import threads_for

    model = load_logged(model_uri)
    with threads_for(len(holdout)):
        export = onnx_export.export_checked(model, schema, features.conform(holdout, schema))
    runtime = runtime_for(export.usable)
    with tempfile.TemporaryDirectory(prefix="profile-model-") as scratch:
        if runtime == ONNX:
            path = Path(scratch) / ONNX_FILE
            path.write_bytes(export.onnx.SerializeToString())
        else:
            path = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch))
        return profile_files(runtime, path, schema, holdout)


def main(argv: list[str]) -> None:
    """The fresh process: load the model in the runtime, print the load's seconds and the peak memory."""
    runtime, path, schema_file = argv
    schema = Schema.from_dict(json.loads(Path(schema_file).read_text()))
    profiling.report_footprint(lambda: load_runtime(runtime, Path(path), schema))


if __name__ == "__main__":
    main(sys.argv[1:])
