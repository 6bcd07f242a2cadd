"""register: the new version gets alias `challenger`; `champion` moves to it only if the gate passes (gate.py).

Versions are never deleted. The decision and its reasons go to reports/registration.json and onto the
version as tags (``gate.decision``, ``gate.reasons``, and ``gate.schema_change`` when the candidate's features or
task differ from the champion's). A fair rejection is an outcome, not an error: the stage exits 0 with
``"promoted": false`` (train.yml stays green); the pull-request check (``make review``) fails on it.

Each new version also gets its fast path (onnx_export.py): the whole pipeline exported to ONNX and checked against
scikit-learn on the holdout; the ONNX model is logged beside the scikit-learn one in the same run (name ``onnx``)
when parity held, with the outcome as tags on the version and the run (``onnx.parity`` = held | failed |
not_converted, ``onnx.reason``, ``onnx.model_uri``) and the run's ``onnx_parity_*`` metrics. The run also gets the
feature schema as its `features.json` artifact, which serving reads.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

import pandas as pd

from .. import features, onnx_export, tracking
from ..config import Config
from ..gate import Check, Decision, check_floor_scale, decide
from ..metrics import GREATER_IS_BETTER

__all__ = ["Check", "Decision", "decide", "run"]  # decide lives in gate.py; kept here for existing imports

log = logging.getLogger(__name__)
ONNX_RUNTIME_PACKAGES = ("onnxruntime", "onnx", "numpy")  # what the logged ONNX model needs to run


def export_onnx(
    client: Any, name: str, version: Any, candidate: dict[str, Any], schema: features.Schema, holdout: pd.DataFrame
) -> dict[str, str]:
    """Export the candidate's pipeline to ONNX, check it on the holdout, log it (and the schema) in the candidate's
    run and tag the version with the outcome. Returns the tags."""
    import mlflow

    from ..models import threads_for  # scikit-learn's estimators, which loading the model imports anyway

    model = mlflow.sklearn.load_model(candidate["model_uri"])
    with threads_for(len(holdout)):
        result = onnx_export.export_checked(model, schema, features.conform(holdout, schema))
    if result.parity is None:
        tags = {"onnx.parity": "not_converted", "onnx.reason": result.reason[:5000]}
    else:
        tags = result.parity.tags() | {"onnx.reason": result.reason[:5000]}
    with mlflow.start_run(run_id=candidate["run_id"]):
        mlflow.log_dict(schema.to_dict(), tracking.SCHEMA_ARTIFACT)
        if result.parity is not None:
            mlflow.log_metrics(result.parity.metrics())
        if result.usable:
            info = mlflow.onnx.log_model(
                result.onnx,
                name="onnx",
                pip_requirements=tracking.pip_requirements(ONNX_RUNTIME_PACKAGES),
                onnx_execution_providers=["CPUExecutionProvider"],
                save_as_external_data=False,  # one self-contained model.onnx: what serving and edge devices load
            )
            tags["onnx.model_uri"] = info.model_uri
        mlflow.set_tags(tags)
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    return tags


def run(cfg: Config) -> dict[str, Any]:
    import mlflow

    candidate = json.loads(cfg.paths.candidate.read_text())
    holdout = json.loads(cfg.paths.metrics.read_text())
    check_floor_scale(cfg.register_.metric, cfg.register_.floor, holdout.get("baseline"))
    client = tracking.configure(cfg.tracking)
    name = cfg.tracking.model_name

    version = tracking.version_for_model(client, name, candidate["model_uri"])
    if version is None:
        version = mlflow.register_model(candidate["model_uri"], name, tags={"run_id": candidate["run_id"]})
    onnx_tags = client.get_model_version(name, version.version).tags or {}
    if "onnx.parity" not in onnx_tags:  # once per version
        schema = features.Schema.load(cfg.paths.features)
        onnx_tags = export_onnx(client, name, version, candidate, schema, pd.read_parquet(cfg.paths.holdout))
    before = tracking.version_by_alias(client, name, tracking.CHAMPION)
    client.set_registered_model_alias(name, tracking.CHALLENGER, version.version)

    if before is not None and before.version == version.version:
        decision = Decision(True, (Check("already", True, f"v{version.version} is already the champion"),))
    else:
        decision = decide(holdout["candidate"], holdout["champion"], cfg.register_, holdout.get("baseline"))
    if decision.promote:
        client.set_registered_model_alias(name, tracking.CHAMPION, version.version)
    tags = {
        "gate.decision": "promoted" if decision.promote else "rejected",
        "gate.reasons": " | ".join(decision.reasons),
        "gate.metric": cfg.register_.metric,
        f"holdout.{cfg.register_.metric}": str(holdout["candidate"][cfg.register_.metric]),
    }
    if decision.schema_change:
        tags["gate.schema_change"] = decision.schema_change
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    tracking.describe_version(client, name, version.version, tags["gate.decision"], decision.reasons)
    if decision.promote and (before is None or before.version != version.version):  # a rival may promote at once
        baseline = str((holdout["champion"] or {}).get("version", "none"))
        metric = cfg.register_.metric
        tracking.settle_champion(
            client, name, version.version, baseline=baseline, metric=metric, greater_is_better=GREATER_IS_BETTER[metric]
        )

    after = tracking.version_by_alias(client, name, tracking.CHAMPION)
    result = {
        "model_name": name,
        "version": int(version.version),
        "promoted": decision.promote,
        "checks": [asdict(c) for c in decision.checks],
        "reasons": decision.reasons,
        "schema_change": decision.schema_change or None,
        "champion_before": int(before.version) if before else None,
        "champion_after": int(after.version) if after else None,
        "onnx": {"parity": onnx_tags.get("onnx.parity"), "reason": onnx_tags.get("onnx.reason") or None},
    }
    report = cfg.paths.registration
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=2) + "\n")
    log.info(
        "%s v%s %s; champion is v%s",
        name,
        version.version,
        "PROMOTED to champion" if decision.promote else "kept as challenger",
        result["champion_after"],
    )
    if decision.schema_change:
        log.warning("schema change vs the champion: %s", decision.schema_change)
    for reason in decision.reasons:
        log.info("  %s", reason)
    return result
