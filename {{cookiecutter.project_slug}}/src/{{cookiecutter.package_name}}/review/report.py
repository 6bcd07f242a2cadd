"""review: the pull-request report, one markdown comment a reviewer can decide on.

For a pull request the candidate is trained and evaluated (``make candidate`` = ``dvc repro evaluate``), never
registered: evaluate scores the registry's current `champion` on the same holdout (read-only), and this module
runs the quality gate as a dry run with the very function the register stage uses (core/gate.decide). So a
pull request moves no alias in the shared registry; only train.yml on main promotes.

The comparison is always with the champion as it is *now*: when the registry's champion moved since evaluate
ran (a merge on main, or this very candidate promoted by ``make pipeline``), the current champion is scored on
the same holdout again, or the report says that the candidate already is the champion.

After a full ``dvc repro`` (train.yml on main) ``registered=True`` reports the decision the register stage
really took, from reports/registration.json.

The parts: facts.py (git, dvc.lock, the registry), charts.py (Mermaid), render.py (the markdown, with everything a
pull request controls kept inside code spans). The PNGs stay in the workflow artifact.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from ..core.config import Config
from ..core.errors import UserError
from ..core.gate import Gate, GateFailed, budget_checks, decide, with_checks
from ..core.reports import Candidate, HoldoutMetrics, Registration, Validation
from . import profiles as profiling
from .facts import PARAMS, ChampionNow, Lineage, candidate_lineage, champion_now, mlflow_client, params_at, params_diff
from .render import marker, render

log = logging.getLogger(__name__)
REPORT = Path("reports/review.md")


def dry_run_gate(holdout: HoldoutMetrics, cfg: Config, profiles: profiling.Profiles | None = None) -> Gate:
    """The register stage's gate on evaluate's numbers and the profiles, without touching the registry."""
    decision = decide(holdout.candidate, holdout.champion, cfg.register_, holdout.baseline)
    pair = profiles or profiling.Profiles()
    decision = with_checks(decision, budget_checks(cfg.register_, pair.candidate, pair.champion, pair.champion_version))
    return Gate(decision.promote, tuple(decision.reasons), "dry run")


def registered_gate(registration: Registration) -> Gate:
    return Gate(registration.promoted, tuple(registration.reasons), "registered")


def already_champion_gate(version: int) -> Gate:
    return Gate(
        True, (f"pass: this candidate is champion v{version} already; nothing would change",), "already champion"
    )


def run(
    cfg: Config,
    *,
    base: str | None = None,
    registered: bool = False,
    plots_url: str | None = None,
    link: str | None = None,
    output: Path = REPORT,
    summary: Path | None = None,
) -> Gate:
    """Write the report to ``output`` (and append it to ``summary``, the job summary on Actions).

    Raises GateFailed after writing it when the dry-run gate rejects the candidate, so the check fails.
    """
    marker(cfg.tracking.model_name)  # a name the comment cannot carry fails before any work
    paths = cfg.paths
    holdout = HoldoutMetrics.read(paths.metrics)
    if holdout is None:
        raise UserError(f"{paths.metrics} not found: run `make candidate` (dvc repro evaluate) first")
    candidate = Candidate.read(paths.candidate)

    client = mlflow_client(cfg) if candidate is not None else None
    lineage, now = Lineage(), ChampionNow(holdout)
    try:
        lineage = candidate_lineage(cfg, candidate, client)
    except Exception as error:  # the run may live in another store: the rest of the report still stands
        log.warning("MLflow run details unavailable: %s", error)
        lineage = candidate_lineage(cfg, candidate, None)
        lineage.notes.append(f"MLflow run details unavailable ({type(error).__name__}).")
    if client is not None and not registered:
        try:
            now = champion_now(cfg, client, holdout, candidate)
        except Exception as error:  # an unreachable server must not hide the rest of the report
            log.warning("registry not readable for the review: %s", error)
            now.note = f"The registry could not be read ({type(error).__name__}): compared with the champion as evaluate saw it."

    if registered:
        registration = Registration.read(paths.registration)
        if registration is None:
            raise UserError(f"{paths.registration} not found: run the whole pipeline (dvc repro) first")
        gate = registered_gate(registration)
        profiles = profiling.registered(registration)
    elif now.already_champion is not None:
        gate = already_champion_gate(now.already_champion)
        profiles = profiling.dry_run(cfg, client, candidate, now.already_champion)
    else:
        profiles = profiling.dry_run(cfg, client, candidate, None)
        gate = dry_run_gate(now.holdout, cfg, profiles)

    changes, problem = None, None
    if base:
        try:
            changes = params_diff(params_at(base), yaml.safe_load(Path(PARAMS).read_text()) or {})
        except UserError as error:
            problem = str(error)
    figures = sorted(p.name for p in paths.figures.glob("*.png")) if paths.figures.is_dir() else []
    if now.already_champion is not None:
        before = holdout.champion.version if holdout.champion is not None else None
        now.note = f"This candidate became champion v{now.already_champion} after evaluate ran; " + (
            f"the champion column is v{before}, the one it replaced."
            if before is not None
            else "there was none before."
        )
    body = render(
        model_name=cfg.tracking.model_name,
        gate=gate,
        gate_metric=cfg.register_.metric,
        holdout=now.holdout,
        validation=Validation.read(paths.validation),
        changes=changes,
        base=base,
        params_problem=problem,
        figures=figures,
        plots_url=plots_url,
        run_url=link,
        lineage=lineage,
        plots=paths.plots,
        champion_note=now.note,
        already_champion=now.already_champion,
        profiles=profiles,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(body)
    if summary is not None:
        with Path(summary).open("a") as stream:
            stream.write(body.split("\n", 1)[1] + "\n")
    log.info("review written to %s: %s", output, "gate passed" if gate.promote else "gate FAILED")
    if not gate.promote and not registered:
        raise GateFailed(f"the candidate fails the quality gate ({'; '.join(gate.reasons)}); see {output}")
    return gate
