"""serving: the MLflow champion in the project's BentoML model store, and what serves it.

Model loading: champion.py (the registry's champion imported into the store, and loaded), model.py (the served
model, hot and cold paths share it), runtime.py (onnxruntime or scikit-learn), bento_folder.py (the store read as
a folder, without BentoML; tracking/model_files.py checks and opens the model's folders, without MLflow). The
BentoML service: service.py (hot path), with asgi.py (middlewares), docs_page.py and records.py (request and answer
bodies). Batch engines: batch.py (in-process streaming) and spark_batch.py (cold path). client.py: a client's view
of a running service. The predictions they write go to the serving-layer database (the predictions package). This
face hands on the model loading and the client; the service and the batch engines are imported by their commands.
"""

from .champion import champion, import_champion, store_name
from .client import request_predictions
from .model import MLFLOW_FOLDER, ServedModel, load, planned_runtime, stored_schema

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
