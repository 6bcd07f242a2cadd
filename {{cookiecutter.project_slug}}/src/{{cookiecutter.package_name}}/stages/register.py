"""register: the new version gets alias `challenger`; `champion` moves to it only if the gate passes (core/gate.py).

Versions are never deleted. The decision and its reasons go to reports/registration.json (core/reports.Registration)
and onto the version as tags (``gate.decision``, ``gate.reasons``, and ``gate.schema_change`` when the candidate's
features or task differ from the champion's). A fair rejection is an outcome, not an error: the stage exits 0 with
``"promoted": false`` (train.yml stays green); the pull-request check (``make review``) fails on it.

Each new version also gets its fast path, the ONNX export (training/onnx_logging.py), and, before any alias moves
to it, the sha256 manifest of its model folders and its feature schema as tags (tracking/model_files.py): what every
later load checks. Only a candidate that this job's own train stage logged is registered (tracking/provenance.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import pandas as pd

from ..core.config import Config
from ..core.gate import Check, Decision, check_floor_scale, decide
from ..core.reports import Candidate, HoldoutMetrics, OnnxOutcome, Registration
from ..core.schema import Schema
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
    if "onnx.parity" not in onnx_tags:  # once per version
        schema = Schema.load(cfg.paths.features)
        holdout_rows = pd.read_parquet(cfg.paths.holdout)
        onnx_tags = onnx_logging.export_onnx(client, name, version, candidate, schema, holdout_rows)
    if model_files.MODEL_TAG not in onnx_tags:  # once per version, before any alias points at it
        model_files.record(client, version, candidate.model_uri, onnx_tags.get("onnx.model_uri"))
        registry.record_schema(client, version, Schema.load(cfg.paths.features))
    before = registry.champion(client, name)
    client.set_registered_model_alias(name, aliases.CHALLENGER, version.version)

    if before is not None and before.version == version.version:
        decision = Decision(True, (Check("already", True, f"v{version.version} is already the champion"),))
    else:
        decision = decide(holdout.candidate, holdout.champion, cfg.register_, holdout.baseline)
    if decision.promote:
        client.set_registered_model_alias(name, aliases.CHAMPION, version.version)
    tags = {
        "gate.decision": "promoted" if decision.promote else "rejected",
        "gate.reasons": " | ".join(decision.reasons),
        "gate.metric": metric,
        f"holdout.{metric}": str(holdout.candidate[metric]),
    }
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
            "champion_before": int(before.version) if before else None,
            "champion_after": int(after.version) if after else None,
            "onnx": OnnxOutcome(parity=onnx_tags.get("onnx.parity"), reason=onnx_tags.get("onnx.reason") or None),
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
    if decision.schema_change:
        log.warning("schema change vs the champion: %s", decision.schema_change)
    for reason in decision.reasons:
        log.info("  %s", reason)
    return result
