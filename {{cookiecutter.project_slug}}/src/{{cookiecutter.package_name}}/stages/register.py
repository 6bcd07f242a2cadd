"""register: the new version gets alias `challenger`; `champion` moves to it only if the gate passes.

Versions are never deleted. The decision and its reasons go to reports/registration.json and onto the
version as tags.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import tracking
from ..config import Config, Register
from ..metrics import GREATER_IS_BETTER

log = logging.getLogger(__name__)
CANDIDATE = Path("models/candidate.json")
METRICS = Path("reports/metrics.json")
REPORT = Path("reports/registration.json")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    promote: bool
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        return [f"{'pass' if c.passed else 'FAIL'}: {c.detail}" for c in self.checks]


def decide(candidate: dict[str, float], champion: dict[str, Any] | None, gate: Register) -> Decision:
    """The quality gate, pure: floor on the candidate, then improvement over the champion on the same holdout."""
    metric = gate.metric
    better = GREATER_IS_BETTER[metric]
    value = candidate[metric]
    meets_floor = value >= gate.floor if better else value <= gate.floor
    checks = [
        Check(
            "floor", meets_floor, f"{metric} {value:.4f} {'>=' if better else '<='} floor {gate.floor} is {meets_floor}"
        )
    ]
    if champion is None:
        checks.append(
            Check("improvement", True, "no champion yet: the first version that clears the floor becomes champion")
        )
    elif metric not in champion:
        reason = champion.get("error", "no metrics")
        checks.append(Check("improvement", False, f"champion v{champion['version']} could not be compared: {reason}"))
    else:
        gain = (value - champion[metric]) if better else (champion[metric] - value)
        improves = gain >= gate.min_improvement
        checks.append(
            Check(
                "improvement",
                improves,
                f"{metric} {value:.4f} vs champion v{champion['version']} {champion[metric]:.4f}: "
                f"improvement {gain:+.4f} (needs >= {gate.min_improvement}) is {improves}",
            )
        )
    return Decision(all(c.passed for c in checks), tuple(checks))


def run(
    cfg: Config, candidate_file: Path = CANDIDATE, metrics_file: Path = METRICS, report: Path = REPORT
) -> dict[str, Any]:
    import mlflow

    candidate = json.loads(candidate_file.read_text())
    holdout = json.loads(metrics_file.read_text())
    client = tracking.configure(cfg.tracking)
    name = cfg.tracking.model_name

    version = tracking.version_for_model(client, name, candidate["model_uri"])
    if version is None:
        version = mlflow.register_model(candidate["model_uri"], name, tags={"run_id": candidate["run_id"]})
    before = tracking.version_by_alias(client, name, tracking.CHAMPION)
    client.set_registered_model_alias(name, tracking.CHALLENGER, version.version)

    if before is not None and before.version == version.version:
        decision = Decision(True, (Check("already", True, f"v{version.version} is already the champion"),))
    else:
        decision = decide(holdout["candidate"], holdout["champion"], cfg.register_)
    if decision.promote:
        client.set_registered_model_alias(name, tracking.CHAMPION, version.version)
    tags = {
        "gate.decision": "promoted" if decision.promote else "rejected",
        "gate.reasons": " | ".join(decision.reasons),
        "gate.metric": cfg.register_.metric,
        f"holdout.{cfg.register_.metric}": str(holdout["candidate"][cfg.register_.metric]),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
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
        "champion_before": int(before.version) if before else None,
        "champion_after": int(after.version) if after else None,
    }
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=2) + "\n")
    log.info(
        "%s v%s %s; champion is v%s",
        name,
        version.version,
        "PROMOTED to champion" if decision.promote else "kept as challenger",
        result["champion_after"],
    )
    for reason in decision.reasons:
        log.info("  %s", reason)
    return result
