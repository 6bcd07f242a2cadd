"""core: what every part shares and nothing else needs to be imported for: params.yaml's strict config
(config.py), the errors a user can fix (errors.py), the process environment (environment.py), the metrics and the
two tasks (metrics.py), the model families' tasks (families.py), the feature schema (schema.py), the promotion
rule (gate.py) and the JSON reports that cross stages (reports.py).

This face hands on the config and the errors, which every command loads first.
"""

from .config import Config, load
from .errors import ConfigError, MissingFile, UserError

__all__ = ["Config", "ConfigError", "MissingFile", "UserError", "load"]
