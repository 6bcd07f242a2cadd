"""A logged scikit-learn model loaded from its MLflow model folder without importing MLflow (seconds of start-up).

train logs the model in MLflow's skops format with the types it trusts written in the folder's ``MLmodel`` file;
that is all it takes to load it: ``skops.io.load(<folder>/<pickled_model>, trusted=<those types>)``, what
``mlflow.sklearn.load_model`` does for this format. Any other format (pickle, cloudpickle), or a folder this
module does not recognise, is loaded by MLflow itself, which stays the reference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

SKOPS = "skops"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when PyYAML has it: 1 ms instead of 19


def load_sklearn(folder: Path | str) -> Any:
    """The fitted scikit-learn model in an MLflow model folder (``MLmodel`` and its sklearn flavor)."""
    folder = Path(folder)
    try:
        flavor = (yaml.load((folder / "MLmodel").read_text(), Loader=SAFE_LOADER) or {})["flavors"]["sklearn"]
        pickled, fmt, trusted = (
            flavor["pickled_model"],
            flavor.get("serialization_format"),
            flavor.get("skops_trusted_types"),
        )
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        fmt = None
    # MLflow refuses every format, skops included, when MLFLOW_ALLOW_PICKLE_DESERIALIZATION is false: so does this
    allowed = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true").strip().lower() not in ("false", "0")
    if fmt != SKOPS or not allowed:
        import mlflow

        return mlflow.sklearn.load_model(str(folder))
    import skops.io

    return skops.io.load(folder / pickled, trusted=trusted)
