"""register's fast path for each new version: the candidate's whole pipeline exported to ONNX (onnx_export.py),
checked against scikit-learn on the holdout, and logged beside the scikit-learn model in the candidate's run (name
``onnx``) when parity held. The outcome goes onto the version and the run as tags (``onnx.parity`` = held | failed
| not_converted, ``onnx.reason``, ``onnx.model_uri``) and the run's ``onnx_parity_*`` metrics. The run also gets
the feature schema as its `features.json` artifact, which serving reads.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..core.reports import Candidate
from ..core.schema import Schema
from ..tracking import model_files, registry, runs
from . import features, onnx_export

ONNX_RUNTIME_PACKAGES = ("onnxruntime", "onnx", "numpy")  # what the logged ONNX model needs to run


def export_onnx(
    client: Any, name: str, version: Any, candidate: Candidate, schema: Schema, holdout: pd.DataFrame
) -> dict[str, str]:
    """Export the candidate's pipeline to ONNX, check it on the holdout, log it (and the schema) in the candidate's
    run and tag the version with the outcome. Returns the tags."""
    import mlflow

    from .models import threads_for  # scikit-learn's estimators, which loading the model imports anyway

    model = model_files.load_logged(candidate.model_uri)
    with threads_for(len(holdout)):
        result = onnx_export.export_checked(model, schema, features.conform(holdout, schema))
    if result.parity is None:
        tags = {"onnx.parity": "not_converted", "onnx.reason": result.reason[:5000]}
    else:
        tags = result.parity.tags() | {"onnx.reason": result.reason[:5000]}
    with mlflow.start_run(run_id=candidate.run_id):
        mlflow.log_dict(schema.to_dict(), registry.SCHEMA_ARTIFACT)
        if result.parity is not None:
            mlflow.log_metrics(result.parity.metrics())
        if result.usable:
            info = mlflow.onnx.log_model(
                result.onnx,
                name="onnx",
                pip_requirements=runs.pip_requirements(ONNX_RUNTIME_PACKAGES),
                onnx_execution_providers=["CPUExecutionProvider"],
                save_as_external_data=False,  # one self-contained model.onnx: what serving and edge devices load
            )
            tags["onnx.model_uri"] = info.model_uri
        mlflow.set_tags(tags)
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    return tags
