"""training: the preprocessing and tables made to fit the feature schema (features.py), the model families
(models.py), the search (search.py, logged as MLflow child runs by search_logging.py), the holdout scores
(evaluation.py) and figures (figures.py), and the ONNX export (onnx_export.py, logged by onnx_logging.py).

This face hands on features.py only: it imports pandas, not scikit-learn, so the serving paths that conform
tables stay quick to start.
"""

from .features import SchemaMismatch, conform, infer

__all__ = ["SchemaMismatch", "conform", "infer"]
