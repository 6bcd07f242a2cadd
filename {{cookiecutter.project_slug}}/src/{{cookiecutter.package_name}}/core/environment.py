"""The process environment every command and the service start with: quiet, private, and the project's BentoML store.

Telemetry is off for MLflow, BentoML, DVC, Great Expectations and Evidently unless the user set those variables, and the
BentoML model store is the project's .bentoml/ unless BENTOML_HOME says otherwise; OpenMP's idle threads sleep instead
of spinning (THREADS). Called by the entry points
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

# MLflow's client retries a failed request 7 times with backoff (4 to 8 minutes against a tracking server that is
# down, each try waiting up to 120 s): a stage then fails in seconds (server stopped) or about half a minute (frozen).
TRACKING_HTTP = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
}


# OpenMP (scikit-learn's HistGradientBoosting, XGBoost) lets idle threads spin by default. On a shared machine a
# spinning thread waits for one that is descheduled: a HistGradientBoosting fit of 80,000 x 30 rows on 2 cores at a
# load of 5 took 9.5 s on 2 threads and 1.5 s on 1; with PASSIVE (threads sleep) 2.3 s on 2 threads at a load of 8.
# OpenMP reads it once, when scikit-learn is first imported: configure() runs before that.
THREADS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure() -> Path:
    """Set the defaults above (a variable the user set wins); returns the BentoML store's folder."""
    for variable, value in (QUIET | TRACKING_HTTP | THREADS).items():
        os.environ.setdefault(variable, value)
    return Path(os.environ.setdefault("BENTOML_HOME", str(Path(".bentoml").absolute())))
