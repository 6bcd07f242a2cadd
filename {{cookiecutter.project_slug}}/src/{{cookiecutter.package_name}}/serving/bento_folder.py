"""A model in the project's BentoML store read from its folder, without importing BentoML (half a second of start-up).

The store is a folder (``$BENTOML_HOME/models``, core/environment.py): ``<name>/latest`` names the latest version of a
model, ``<name>/<version>/model.yaml`` holds a version's metadata, and the model's files lie beside it. That is all
the batch job needs to load the champion once champion.py has imported it. Anything this module does not find as
it expects (no such version, not the latest, a ``model.yaml`` it cannot read) answers None: the caller then asks
BentoML itself, which stays the reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core import environment
from ..tracking.model_files import SAFE_LOADER

MODEL_YAML = "model.yaml"
LATEST = "latest"


@dataclass(frozen=True)
class Info:
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StoredModel:
    """What model.load reads of a stored model (``bentoml.models.get``'s answer): its tag, metadata and files."""

    tag: str
    info: Info
    folder: Path

    def path_of(self, item: str) -> str:
        return str(self.folder / item)


def latest(name: str, version: str) -> StoredModel | None:
    """``<name>:<version>`` from the store when it is the latest version of ``name`` there; else None."""
    root = Path(os.path.expandvars(environment.configure())).expanduser() / "models" / name  # as BentoML reads it
    try:
        if (root / LATEST).read_text().strip() != version:
            return None
        info = yaml.load((root / version / MODEL_YAML).read_text(), Loader=SAFE_LOADER)
        if (info["name"], info["version"]) != (name, version) or not isinstance(info["metadata"], dict):
            return None
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return StoredModel(f"{name}:{version}", Info(info["metadata"]), root / version)
