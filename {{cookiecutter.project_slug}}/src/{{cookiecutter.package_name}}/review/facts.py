"""The facts a review reports, gathered from git (params.yaml at the base), dvc.lock (the data version) and the
MLflow registry (the champion as it is now, the candidate's run and its search).
"""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from ..core.config import Config, Paths
from ..core.errors import UserError
from ..core.reports import Candidate, ChampionScores, HoldoutMetrics
from ..tracking import registry, runs

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)
DVC_LOCK = Path("dvc.lock")
PARAMS = "params.yaml"
ABSENT = type("Absent", (), {"__repr__": lambda _self: "ABSENT"})()  # a key missing on one side of the diff


@dataclass
class Lineage:
    """What the reviewer needs to find and reproduce the candidate; every field may be unknown."""

    family: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    run_link: str | None = None
    commit: str | None = None
    data: dict[str, str] = field(default_factory=dict)  # what -> md5
    trials: list[tuple[str, float, bool]] = field(default_factory=list)  # (trial, cv score, best)
    search_metric: str | None = None
    notes: list[str] = field(default_factory=list)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf with its path: ``{"a": {"b": [1, {"c": 2}]}}`` -> ``{"a.b[0]": 1, "a.b[1].c": 2}``.

    Lists are walked element by element, so a change deep inside ``train.search.candidates`` is one leaf;
    empty dicts and lists are leaves themselves.
    """
    if isinstance(tree, dict) and tree:
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(tree, list) and tree:
        flat = {}
        for index, value in enumerate(tree):
            flat.update(flatten(value, f"{prefix}[{index}]"))
        return flat
    return {prefix: tree} if prefix else {}


def params_diff(base: dict[str, Any], head: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, base value, head value) for every leaf added, removed or changed; a missing side is ``ABSENT``."""
    old, new = flatten(base), flatten(head)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, ABSENT), new.get(key, ABSENT)
        if before is ABSENT or after is ABSENT or before != after or type(before) is not type(after):
            changes.append((key, before, after))
    return changes


def params_at(ref: str, path: str = PARAMS) -> dict[str, Any]:
    """params.yaml as committed at ``ref`` (a branch, tag or commit); raises UserError when git cannot show it."""
    try:
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise UserError(f"cannot read {path} at {ref!r}: {detail.strip()}") from None
    return yaml.safe_load(shown.stdout) or {}


def run_url(env: dict[str, str]) -> str | None:
    """The Actions run's page from the variables every GitHub runner sets; None outside Actions."""
    server, repository, run_id = (env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repository}/actions/runs/{run_id}" if server and repository and run_id else None


def mlflow_run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The run's page on an http(s) tracking server, without any credentials the URI carries; None otherwise."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname:  # IPv6 literal
        host = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def dvc_data_hashes(paths: Paths, lock: Path = DVC_LOCK) -> dict[str, str]:
    """The md5 that dvc.lock records for the raw data and the training split (the data version)."""
    if not lock.exists():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    found = {}
    for stage, path in (("ingest", paths.raw.as_posix()), ("prepare", paths.train.as_posix())):
        for out in stages.get(stage, {}).get("outs", []):
            if out.get("path") == path and out.get("md5"):
                found[path] = out["md5"]
    return found


def _store_exists(uri: str) -> bool:
    """Reading must not create a store: a SQLite file that is not there means there is no registry yet."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return not uri.startswith(("file:", "/", ".")) or Path(uri.removeprefix("file://")).exists()


@dataclass
class ChampionNow:
    """The registry's answer the report needs: the holdout numbers against the champion as it is now."""

    holdout: HoldoutMetrics
    already_champion: int | None = None
    note: str | None = None


def champion_now(
    cfg: Config, client: MlflowClient, holdout: HoldoutMetrics, candidate: Candidate | None
) -> ChampionNow:
    """Compare with the champion as the registry has it now, not as evaluate saw it."""
    version = registry.champion(client, cfg.tracking.model_name)
    evaluated = holdout.champion.version if holdout.champion is not None else None
    if version is None:
        if evaluated is None:
            return ChampionNow(holdout)
        return ChampionNow(holdout.model_copy(update={"champion": None}), note="The registry has no champion any more.")
    number = int(version.version)
    same = [(version.source, candidate.model_uri), (version.run_id, candidate.run_id)] if candidate else []
    if any(mine and mine == theirs for mine, theirs in same):
        return ChampionNow(holdout, already_champion=number)
    if evaluated == number:
        return ChampionNow(holdout)
    rescored = rescore_champion(cfg, client)
    note = f"The champion moved since evaluate ran (v{evaluated} -> v{number}): v{number} was scored again on this holdout."
    if evaluated is None:
        note = f"A champion (v{number}) appeared since evaluate ran: it was scored on this holdout."
    return ChampionNow(holdout.model_copy(update={"champion": rescored}), note=note)


def rescore_champion(cfg: Config, client: MlflowClient) -> ChampionScores | None:
    """The current champion's metrics on the holdout, the way evaluate computes them."""
    import pandas as pd

    from ..core.schema import Schema
    from ..training import evaluation

    schema = Schema.load(cfg.paths.features)
    return evaluation.champion_metrics(cfg, client, pd.read_parquet(cfg.paths.holdout), schema)


def candidate_lineage(cfg: Config, candidate: Candidate | None, client: MlflowClient | None) -> Lineage:
    """Family, hyperparameters, run (with a link on an http(s) server), commit, data hashes and the search."""
    lineage = Lineage(data=dvc_data_hashes(cfg.paths), search_metric=cfg.train.metric)
    if candidate is None:
        return lineage
    lineage.family = candidate.family
    lineage.hyperparameters = dict(candidate.params)
    lineage.run_id = candidate.run_id
    if client is None or not lineage.run_id:
        return lineage
    import mlflow

    run = client.get_run(lineage.run_id)
    lineage.commit = run.data.tags.get("git.commit")
    train = cfg.paths.train.as_posix()
    if run.data.tags.get("data.train.md5") and train not in lineage.data:
        lineage.data[train] = run.data.tags["data.train.md5"]
    lineage.run_link = mlflow_run_link(cfg.tracking.resolved_uri, run.info.experiment_id, lineage.run_id)
    children = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{lineage.run_id}'",
        order_by=["attributes.start_time ASC"],
        output_format="list",
    )
    column = f"cv_{cfg.train.metric}"
    for child in children:
        name = child.data.tags.get("mlflow.runName") or child.info.run_id
        score = child.data.metrics.get(column, math.nan)
        lineage.trials.append((name, score, child.data.tags.get("search.best") == "true"))
    return lineage


def mlflow_client(cfg: Config) -> MlflowClient | None:
    """A client on the project's tracking store, or None when there is none to read (or it cannot be set up)."""
    if not _store_exists(cfg.tracking.resolved_uri):
        return None
    try:
        return runs.configure(cfg.tracking)
    except Exception as error:
        log.warning("tracking store %s not usable for the review: %s", cfg.tracking.resolved_uri, error)
        return None
