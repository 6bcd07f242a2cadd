"""Serving: the MLflow champion in the project's BentoML model store, and the one loader that the real-time
service (serving/service.py) and the batch job (serving/batch.py) share.

registry.py imports the registry's `champion` into the BentoML store, model.py is the served-model wrapper (the
hot and cold paths share it), runtime.py what runs it (onnxruntime or scikit-learn), client.py the HTTP client,
service.py the BentoML service (hot path), batch.py and spark_batch.py the batch jobs (cold path). The serving-layer
database: database.py (schema, connection), store.py (writes), queries.py (reads), writer.py (the one background
writer of the service and the batch job). This face only hands their names on.
"""

from .client import request_predictions
from .model import MLFLOW_FOLDER, ServedModel, load, planned_runtime, stored_schema
from .registry import champion, import_champion, store_name

__all__ = [
    "MLFLOW_FOLDER",
    "ServedModel",
    "champion",
    "import_champion",
    "load",
    "planned_runtime",
    "request_predictions",
    "store_name",
    "stored_schema",
]
