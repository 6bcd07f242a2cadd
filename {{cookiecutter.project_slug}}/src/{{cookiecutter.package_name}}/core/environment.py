"""The process environment every command and the service start with: quiet, private, and the project's BentoML store.

Telemetry is off for MLflow, BentoML, DVC, Great Expectations and Evidently unless the user set those variables, and the
BentoML model store is the project's .bentoml/ unless BENTOML_HOME says otherwise. Called by the entry points
(``python -m {{ cookiecutter.package_name }}``, the BentoML service) and before BentoML is first imported.
"""

from __future__ import annotations

import os
from pathlib import Path

QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",  # also Evidently's usage events (evidently.telemetry: sent unless DO_NOT_TRACK is set)
}


def configure() -> Path:
    """Set the defaults above (a variable the user set wins); returns the BentoML store's folder."""
    for variable, value in QUIET.items():
        os.environ.setdefault(variable, value)
    return Path(os.environ.setdefault("BENTOML_HOME", str(Path(".bentoml").absolute())))
