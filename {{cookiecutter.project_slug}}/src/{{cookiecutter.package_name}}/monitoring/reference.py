"""The reference monitoring compares served data with: the champion, its own training data and the holdout.

The training data is found through the champion's lineage tag (`data.train.md5` on its training run): the work
tree's file when it has that content, else the file in DVC's cache (``dvc pull`` brings it). The tag is read as data:
anything but 32 hex digits is refused, so no tag names a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.config import Config
from ..core.errors import UserError
from ..core.schema import Schema
from ..data.tables import file_md5
from ..tracking import model_files, registry, runs
from ..training import features

DVC_CACHE = Path(".dvc/cache/files/md5")
MD5 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Reference:
    model_name: str
    version: str
    model: Any
    schema: Schema
    train: pd.DataFrame  # the training rows, the features conformed to the schema
    holdout: pd.DataFrame  # the holdout with its target
    holdout_score: float | None  # register.metric of this version on its holdout (the gate's number)


def find_data(path: Path, md5: str | None, what: str) -> Path:
    """The file whose content hash is ``md5``: the work tree's copy, or DVC's cache."""
    if md5 is None:
        if path.exists():
            return path
        raise UserError(f"{path} not found: run `dvc pull` (or make pipeline) to get the {what}")
    if not MD5.fullmatch(md5):  # a tag is data: only a hash is looked up in the cache, never a path
        raise UserError(f"the {what}'s lineage tag is not an md5 (32 hex digits): {md5[:100]!r}")
    if path.exists() and file_md5(path) == md5:
        return path
    cached = DVC_CACHE / md5[:2] / md5[2:]
    if cached.exists():
        return cached
    raise UserError(
        f"the {what} (md5 {md5}, lineage tag of the champion's training run) is neither {path} nor in the DVC "
        f"cache: check out the champion's commit and run `dvc pull`"
    )


def _lineage(client: Any, run_id: str) -> dict[str, str]:
    """The training run's tags (the parent run's, when the model was logged by a child run)."""
    tags = dict(client.get_run(run_id).data.tags) if run_id else {}
    parent = tags.get("mlflow.parentRunId")
    if "data.train.md5" not in tags and parent:
        tags = dict(client.get_run(parent).data.tags) | tags
    return tags


def reference(cfg: Config) -> Reference:
    import mlflow

    uri = cfg.tracking.resolved_uri
    mlflow.set_tracking_uri(uri)
    client = runs.client(uri)
    name = cfg.tracking.model_name
    version = registry.require_champion(client, name)
    tags = _lineage(client, version.run_id or "")
    model_uri = registry.version_uri(version)
    model = model_files.load_version(version)  # its files checked against the manifest, never unpickled
    schema = registry.version_schema(version, model_uri, model)
    train = pd.read_parquet(find_data(cfg.paths.train, tags.get("data.train.md5"), "champion's training data"))
    holdout = pd.read_parquet(find_data(cfg.paths.holdout, None, "holdout"))
    score = version.tags.get(f"holdout.{cfg.register_.metric}")
    return Reference(
        model_name=name,
        version=str(version.version),
        model=model,
        schema=schema,
        train=features.conform(train, schema),
        holdout=holdout,
        holdout_score=float(score) if score is not None else None,
    )
