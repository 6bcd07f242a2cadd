"""tracking: MLflow. Runs and their lineage (runs.py), the model registry and its one champion lookup
(registry.py), the registry's aliases read without MLflow (aliases.py), a model's files checked against the
manifest recorded at registration and opened without pickle (model_files.py), where a candidate came from
(provenance.py), and the team's server (server.py, imported by its commands only). No module here imports MLflow at import time: each function does when it runs.
"""

from .aliases import CHALLENGER, CHAMPION
from .registry import champion, require_champion, version_schema
from .runs import client, configure, ui_links

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "champion",
    "client",
    "configure",
    "require_champion",
    "ui_links",
    "version_schema",
]
