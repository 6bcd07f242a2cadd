"""The profiles a review shows side by side (core/reports.Profile): the candidate's and the champion's.

In a dry run the candidate is not registered, so it is profiled now, as register would profile it
(serving/footprint.profile_candidate: the same ONNX export and parity check, then the runtime that outcome picks);
the champion's profile is what its version's ``profile.*`` tags hold. After the pipeline (``--registered``) both
come from reports/registration.json. The gate's budget checks (core/gate.budget_checks) run on the same pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.config import Config
from ..core.reports import Candidate, Profile, Registration
from ..tracking import registry

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


@dataclass
class Profiles:
    """The candidate's and the champion's profiles, each None when unknown, and why the candidate's is missing."""

    candidate: Profile | None = None
    champion: Profile | None = None
    champion_version: int | None = None
    problem: str | None = None  # why the candidate has none (may hold text a pull request controls)


def registered(registration: Registration) -> Profiles:
    """The pair register recorded in reports/registration.json."""
    return Profiles(registration.profile, registration.champion_profile, registration.champion_before)


def champion_profile(cfg: Config, client: MlflowClient | None) -> tuple[int | None, Profile | None]:
    """The registry's champion and its profile tags (None for a version registered before profiling)."""
    if client is None:
        return None, None
    version = registry.champion(client, cfg.tracking.model_name)
    if version is None:
        return None, None
    return int(version.version), Profile.from_tags(version.tags or {})


def dry_run(cfg: Config, client: MlflowClient | None, candidate: Candidate | None, already: int | None) -> Profiles:
    """The candidate profiled now (or, when it already is the champion, its tags), and the champion's tags."""
    found = Profiles()
    try:
        found.champion_version, found.champion = champion_profile(cfg, client)
    except Exception as error:  # an unreachable registry: the rest of the report still stands
        log.warning("the champion's profile is unavailable: %s", error)
    if already is not None:
        found.candidate = found.champion
        return found
    if candidate is None:
        found.problem = f"{cfg.paths.candidate} is missing"
        return found
    import pandas as pd

    from ..core.schema import Schema
    from ..serving import footprint

    try:
        schema = Schema.load(cfg.paths.features)
        found.candidate = footprint.profile_candidate(candidate.model_uri, schema, pd.read_parquet(cfg.paths.holdout))
    except Exception as error:  # a model that cannot be loaded here: the gate says its budgets are unchecked
        log.warning("the candidate could not be profiled: %s", error)
        found.problem = f"{type(error).__name__}: {error}"
    return found
