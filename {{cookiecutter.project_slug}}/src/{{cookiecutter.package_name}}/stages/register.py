"""register: the new version gets alias `challenger`; `champion` moves to it only if the gate passes (core/gate.py).

Versions are never deleted. The decision and its reasons go to reports/registration.json (core/reports.Registration)
and onto the version as tags (``gate.decision``, ``gate.reasons``, ``gate.comparison``: which case applied, and
``gate.schema_change`` when the candidate's features or task differ from the champion's). A fair rejection is an outcome, not an error: the stage exits 0 with
``"promoted": false`` (train.yml stays green); the pull-request check (``make review``) fails on it.

Each new version also gets its fast path, the ONNX export (training/onnx_logging.py), and, before any alias moves
to it, the sha256 manifest of its model folders and its feature schema as tags (tracking/model_files.py): what every
later load checks. Only a candidate that this job's own train stage logged is registered (tracking/provenance.py).
Then its profile in the runtime that will serve it (serving/footprint.py: tags ``profile.*``), which the gate holds
to the ``register.max_*`` budgets and compares with the champion's.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import asdict
from typing import Any

import pandas as pd

from ..core.config import Config
from ..core.gate import Check, Decision, budget_checks, check_floor_scale, decide, with_checks
from ..core.reports import Candidate, HoldoutMetrics, OnnxOutcome, Profile, Registration
from ..core.schema import Schema
from ..serving import footprint
from ..tracking import aliases, model_files, provenance, registry, runs
from ..training import onnx_logging

log = logging.getLogger(__name__)


def run(cfg: Config) -> Registration:
    import mlflow

    candidate = Candidate.load(cfg.paths.candidate)
    holdout = HoldoutMetrics.load(cfg.paths.metrics)
    check_floor_scale(cfg.register_.metric, cfg.register_.floor, holdout.baseline)
    client = runs.configure(cfg.tracking)
    name, metric = cfg.tracking.model_name, cfg.register_.metric

    provenance.check_candidate(client, candidate, cfg.tracking.experiment)  # not MLFLOW_EXPERIMENT_NAME's
    version = registry.version_for_model(client, name, candidate.model_uri)
    if version is None:
        version = mlflow.register_model(candidate.model_uri, name, tags={"run_id": candidate.run_id})
    onnx_tags = client.get_model_version(name, version.version).tags or {}
    schema = Schema.load(cfg.paths.features).with_threshold(candidate.decision_threshold)  # what serving applies
    holdout_rows = pd.read_parquet(cfg.paths.holdout)
    if "onnx.parity" not in onnx_tags:  # once per version
        onnx_tags = onnx_logging.export_onnx(client, name, version, candidate, schema, holdout_rows)
    if model_files.MODEL_TAG not in onnx_tags:  # once per version, before any alias points at it
        model_files.record(client, version, candidate.model_uri, onnx_tags.get("onnx.model_uri"))
        registry.record_schema(client, version, schema)
    profile = Profile.from_tags(onnx_tags) or _profile(  # after the manifest: the profiled loads check it
        client, name, version.version, onnx_tags, candidate, schema, holdout_rows
    )
    before = registry.champion(client, name)
    champion_profile = Profile.from_tags(before.tags or {}) if before is not None else None
    client.set_registered_model_alias(name, aliases.CHALLENGER, version.version)

    if before is not None and before.version == version.version:
        already = f"v{version.version} is already the champion"
        decision = Decision(True, (Check("already", True, already),), comparison=already)
    else:
        decision = decide(holdout.candidate, holdout.champion, cfg.register_, holdout.baseline)
        champion_version = int(before.version) if before is not None else None
        decision = with_checks(decision, budget_checks(cfg.register_, profile, champion_profile, champion_version))
    if decision.promote:
        client.set_registered_model_alias(name, aliases.CHAMPION, version.version)
    tags = {
        "gate.decision": "promoted" if decision.promote else "rejected",
        "gate.reasons": " | ".join(decision.reasons),
        "gate.metric": metric,
        f"holdout.{metric}": str(holdout.candidate[metric]),
    } | decision_tags(holdout)
    if decision.comparison:
        tags["gate.comparison"] = decision.comparison
    if decision.schema_change:
        tags["gate.schema_change"] = decision.schema_change
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    registry.describe_version(client, name, version.version, tags["gate.decision"], decision.reasons)
    if decision.promote and (before is None or before.version != version.version):  # a rival may promote at once
        baseline = str(holdout.champion.version) if holdout.champion is not None else "none"
        registry.settle_champion(
            client, name, version.version, baseline=baseline, metric=metric, greater_is_better=cfg.greater_is_better
        )

    after = registry.champion(client, name)
    result = Registration.model_validate(
        {
            "model_name": name,
            "version": int(version.version),
            "promoted": decision.promote,
            "checks": [asdict(c) for c in decision.checks],
            "reasons": decision.reasons,
            "schema_change": decision.schema_change or None,
            "comparison": decision.comparison,
            "champion_before": int(before.version) if before else None,
            "champion_after": int(after.version) if after else None,
            "onnx": OnnxOutcome(parity=onnx_tags.get("onnx.parity"), reason=onnx_tags.get("onnx.reason") or None),
            "profile": profile,
            "champion_profile": champion_profile,
        }
    )
    result.save(cfg.paths.registration)
    log.info(
        "%s v%s %s; champion is v%s",
        name,
        version.version,
        "PROMOTED to champion" if decision.promote else "kept as challenger",
        result.champion_after,
    )
    for key, why in cfg.data_defaults.items():
        log.info("%s: %s", key, why)
    if decision.schema_change:
        log.warning("schema change vs the champion: %s", decision.schema_change)
    log.info("compared: %s", decision.comparison)
    for reason in decision.reasons:
        log.info("  %s", reason)
    return result


def decision_tags(holdout: HoldoutMetrics) -> dict[str, str]:
    """The version's decision rule, as its tags say it: the positive class, and the tuned threshold (with its
    objective) that the service, batch and the ONNX path apply (the same numbers are in its `features.json`)."""
    rule = holdout.threshold
    if rule is None:
        return {}
    tags = {"decision.positive_class": str(rule.positive_class)}
    if rule.threshold is not None:
        tags |= {"decision.threshold": repr(rule.threshold), "decision.objective": str(rule.objective)}
    return tags


def _profile(
    client: Any, name: str, version: str, tags: dict[str, str], candidate: Candidate, schema: Schema, holdout: Any
) -> Profile:
    """Profile the new version in its serving runtime and tag it (once per version)."""
    started, cpu = time.perf_counter(), _cpu_seconds()
    profile = footprint.profile_registered(tags, candidate.model_uri, schema, holdout)
    for key, value in profile.tags().items():
        client.set_model_version_tag(name, version, key, value)
    log.info(
        "profile (%s): single row p50 %.3g ms, p99 %.3g ms (CPU time); %.0f rows/s; %.3g MiB; loads in %.3g s to "
        "%.0f MiB RSS; %d features (measured in %.1f s, %.1f s of CPU)",
        profile.runtime,
        profile.latency_p50_ms,
        profile.latency_p99_ms,
        profile.rows_per_s,
        profile.size_mb,
        profile.load_s,
        profile.rss_mb,
        profile.features,
        time.perf_counter() - started,
        _cpu_seconds() - cpu,
    )
    return profile


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended (the profile's fresh process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
