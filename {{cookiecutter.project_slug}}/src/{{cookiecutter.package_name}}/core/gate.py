"""The promotion rule (the quality gate), pure: ``register`` applies it, ``review`` shows it as a dry run.

A candidate becomes `champion` when every check passes:

- **floor**: the gate metric (``register.metric``) reaches ``register.floor`` (at most, for error metrics). For
  metrics in the target's units (rmse, mae) the floor is also checked against the holdout's scale: a floor far
  below what predicting the mean scores was written for another metric or another target, and is an error.
- **baseline**: it beats a model that ignores the features (the training prior or mean) on the same holdout.
- **improvement**: it beats the champion, scored on the *same* holdout, by MORE than ``register.min_improvement``
  (default 0.001, above rounding noise): an equal score never replaces the champion.
- **schema / task change**: when the candidate's features (columns added, removed, or encoded another way) differ
  from the champion's, the champion is still scored on the *same* holdout rows with its own columns whenever the
  holdout has them (prepare keeps every raw column in it), and the improvement check applies as above. Only when it
  truly cannot be scored, because the columns it needs are gone from the data, or the target, its classes or the
  task changed, is there nothing fair to compare: the candidate is then promoted on the floor and baseline alone.
  Either way the change is named in one line, recorded on the version (tag ``gate.schema_change``) and in
  reports/registration.json, beside which comparison applied (``comparison``, tag ``gate.comparison``). The served
  model follows: ``make serve`` then serves the new schema. Every earlier version keeps its own schema, so moving
  `champion` back is a rollback that serves the old one again.

Then the version's profile (training/profiling.py), by ``budget_checks``, each check only when its key is set:

- **budgets**: p99 single-row latency at most ``register.max_latency_ms``, the model file at most
  ``register.max_size_mb``, a fresh serving process's peak memory at most ``register.max_rss_mb``.
- **slowdown**: a p99 more than ``register.max_slowdown`` (default 5) times the champion's fails, unless
  ``register.allow_slowdown: true`` accepts it: a little more accuracy is not worth any price in latency by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError, Register, UserError
from .metrics import METRICS
from .reports import ChampionScores, Profile, SchemaChangeReport
from .schema import Schema

NOISE = 1e-9  # relative: float differences below this are never an improvement, whatever min_improvement says
SCALE_RATIO = 100  # an error-metric floor this many times below the baseline's score is on another scale


class GateFailed(UserError):
    """The candidate does not pass the quality gate (the pull-request check fails; the report says why)."""


@dataclass(frozen=True)
class Gate:
    """A decision as the review shows it: promoted or not, the reasons, and where it was taken."""

    promote: bool
    reasons: tuple[str, ...]
    source: str  # "dry run" (pull request), "registered" (the register stage's decision) or "already champion"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    promote: bool
    checks: tuple[Check, ...]
    schema_change: str = ""  # one line naming the change, empty when the schema and task are the champion's
    comparison: str = ""  # which case applied: no champion, the same holdout rows, or why the champion was not scored

    @property
    def reasons(self) -> list[str]:
        return [f"{'pass' if c.passed else 'FAIL'}: {c.detail}" for c in self.checks]


@dataclass(frozen=True)
class SchemaChange:
    """What differs between the champion's feature schema and task and the candidate's."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()  # (column, champion's kind, candidate's kind)
    task: tuple[str, str] | None = None  # (champion's, candidate's)
    classes: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # (champion's, candidate's) labels

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped or self.task or self.classes)

    def describe(self) -> str:
        """One line: what changed, with long column lists cut (the full lists are in ``report``)."""
        parts = []
        if self.task:
            parts.append(f"task {self.task[0]} -> {self.task[1]}")
        if self.added:
            parts.append(f"{len(self.added)} column(s) added: {_some(self.added)}")
        if self.removed:
            parts.append(f"{len(self.removed)} column(s) removed: {_some(self.removed)}")
        if self.retyped:
            parts.append(
                f"{len(self.retyped)} column(s) retyped: " + _some([f"{c} ({a} -> {b})" for c, a, b in self.retyped])
            )
        if self.classes:
            parts.append(f"classes {list(self.classes[0])} -> {list(self.classes[1])}")
        return "; ".join(parts)

    def report(self) -> SchemaChangeReport:
        """The change as reports/metrics.json keeps it (the champion's ``schema_change``)."""
        return SchemaChangeReport(
            added=list(self.added),
            removed=list(self.removed),
            retyped=list(self.retyped),
            task=self.task,
            classes=(list(self.classes[0]), list(self.classes[1])) if self.classes else None,
            summary=self.describe(),
        )


def _some(names: tuple[str, ...] | list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def schema_change(champion: Schema, candidate: Schema) -> SchemaChange:
    """What differs between the champion's feature schema and task and the candidate's."""
    old = {f.name: f.kind for f in champion.features}
    new = {f.name: f.kind for f in candidate.features}
    task = (champion.task, candidate.task) if champion.task != candidate.task else None
    old_classes = tuple(str(c) for c in champion.classes)
    new_classes = tuple(str(c) for c in candidate.classes)
    classes = (old_classes, new_classes) if not task and set(old_classes) != set(new_classes) else None
    return SchemaChange(
        added=tuple(n for n in new if n not in old),
        removed=tuple(n for n in old if n not in new),
        retyped=tuple((n, old[n], new[n]) for n in new if n in old and old[n] != new[n]),
        task=task,
        classes=classes,
    )


def check_floor_scale(metric: str, floor: float | None, baseline: dict[str, float] | None) -> None:
    """A floor for rmse/mae is in the target's units: refuse one on another scale instead of a silent rejection."""
    found = METRICS[metric]
    if floor is None or not found.target_units or not baseline or metric not in baseline:
        return
    reference = baseline[metric]
    if reference > 0 and floor * SCALE_RATIO < reference:
        raise ConfigError(
            f"register.floor {floor} is on another scale than {metric} on this data: predicting the mean scores "
            f"{metric} {reference:.4g} on the holdout, so a floor {reference / max(floor, 1e-300):.0f}x smaller was "
            f"written for another metric or target. Set register.floor to the largest {metric} you accept in the "
            f"target's units (e.g. {0.8 * reference:.4g}, 20% better than the mean), or leave it out (no floor)"
        )


def _beats(value: float, reference: float, greater: bool) -> float:
    return (value - reference) if greater else (reference - value)


def decide(
    candidate: dict[str, float],
    champion: ChampionScores | None,
    gate: Register,
    baseline: dict[str, float] | None = None,
) -> Decision:
    """The quality gate on evaluate's numbers (reports/metrics.json): see the module docstring for the rule."""
    metric = gate.metric
    greater = METRICS[metric].greater_is_better
    value = candidate[metric]
    if gate.floor is None:
        checks = [Check("floor", True, f"{metric} {value:.4f}: no floor set (register.floor)")]
    else:
        meets = value >= gate.floor if greater else value <= gate.floor
        checks = [
            Check("floor", meets, f"{metric} {value:.4f} {'>=' if greater else '<='} floor {gate.floor} is {meets}")
        ]
    if baseline and metric in baseline:
        gain = _beats(value, baseline[metric], greater)
        beats = gain > NOISE * max(1.0, abs(baseline[metric]))
        checks.append(
            Check(
                "baseline",
                beats,
                f"{metric} {value:.4f} vs {baseline[metric]:.4f} of a model that ignores the features: "
                f"{'better' if beats else 'NOT better'}",
            )
        )
    change, comparison = "", ""
    if champion is None:
        comparison = "no champion yet"
        checks.append(
            Check("improvement", True, "no champion yet: the first version that clears the floor becomes champion")
        )
    elif metric in champion.scores:
        theirs = champion.scores[metric]
        gain = _beats(value, theirs, greater)
        needed = gate.min_improvement + NOISE * max(1.0, abs(theirs))  # 0.91 - 0.90 > 0.01 in floats
        improves = gain > needed
        comparison = f"champion v{champion.version} scored on the same holdout rows"
        own = ""
        if champion.schema_change is not None:
            change = champion.schema_change.summary
            comparison += " with its own columns (schema changed)"
            own = f" (schema changed: {change}; the champion scored on the same holdout rows with its own columns)"
        checks.append(
            Check(
                "improvement",
                improves,
                f"{metric} {value:.4f} vs champion v{champion.version} {theirs:.4f}: "
                f"improvement {gain:+.4f} (needs > {gate.min_improvement}) is {improves}{own}",
            )
        )
    elif champion.schema_change is not None and champion.error is None:
        change = champion.schema_change.summary
        why = champion.unscorable or "it was trained on other features"
        comparison = f"champion v{champion.version} not scored ({why}): floor and baseline alone"
        checks.append(
            Check(
                "schema",
                True,
                f"schema changed vs champion v{champion.version} ({change}) and it cannot be scored on this holdout "
                f"({why}), so the candidate is promoted on the floor and baseline alone (docs/training.md)",
            )
        )
    else:
        reason = champion.error or "no metrics"
        comparison = f"champion v{champion.version} could not be scored: {reason}"
        checks.append(Check("improvement", False, f"champion v{champion.version} could not be compared: {reason}"))
    return Decision(all(c.passed for c in checks), tuple(checks), change, comparison)


def budget_checks(
    gate: Register, profile: Profile | None, champion: Profile | None, champion_version: int | None
) -> list[Check]:
    """The profile's checks (module docstring): one per budget that is set, and the slowdown vs the champion."""
    limits = (
        ("latency", "max_latency_ms", "p99 latency", "ms"),
        ("size", "max_size_mb", "model size", "MiB"),
        ("rss", "max_rss_mb", "peak RSS after load", "MiB"),
    )
    checks = []
    for name, key, what, unit in limits:
        limit = getattr(gate, key)
        if limit is None:
            continue
        if profile is None:
            checks.append(Check(name, False, f"no profile to check register.{key} {limit:g} {unit} against"))
            continue
        value = getattr(profile, {"latency": "latency_p99_ms", "size": "size_mb", "rss": "rss_mb"}[name])
        within = value <= limit
        checks.append(
            Check(
                name,
                within,
                f"{what} {value:.3g} {unit} {'<=' if within else '>'} register.{key} {limit:g} ({profile.runtime})",
            )
        )
    if gate.max_slowdown is None or profile is None or champion is None or champion.latency_p99_ms <= 0:
        return checks
    ratio = profile.latency_p99_ms / champion.latency_p99_ms
    detail = (
        f"p99 latency {profile.latency_p99_ms:.3g} ms ({profile.runtime}) is {ratio:.1f}x champion "
        f"v{champion_version}'s {champion.latency_p99_ms:.3g} ms ({champion.runtime})"
    )
    if ratio <= gate.max_slowdown:
        checks.append(Check("slowdown", True, f"{detail}: within register.max_slowdown {gate.max_slowdown:g}x"))
    elif gate.allow_slowdown:
        checks.append(
            Check(
                "slowdown",
                True,
                f"{detail}: over register.max_slowdown {gate.max_slowdown:g}x, allowed by register.allow_slowdown",
            )
        )
    else:
        checks.append(
            Check(
                "slowdown",
                False,
                f"{detail}: over register.max_slowdown {gate.max_slowdown:g}x (set "
                "register.allow_slowdown: true to accept it)",
            )
        )
    return checks


def with_checks(decision: Decision, checks: list[Check]) -> Decision:
    """``decision`` with ``checks`` added: it promotes only when every check, old and new, passes."""
    every = (*decision.checks, *checks)
    return Decision(all(c.passed for c in every), every, decision.schema_change, decision.comparison)
