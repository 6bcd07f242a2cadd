"""The environment every benchmark gives a project's commands: telemetry off (MLflow, BentoML, DVC, GX, Evidently) and
output unbuffered, so that the figures are the project's own and nothing leaves the machine."""

QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}
