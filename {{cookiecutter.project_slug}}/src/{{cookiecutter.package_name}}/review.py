"""review: the pull-request report, one markdown comment a reviewer can decide on.

For a pull request the candidate is trained and evaluated (``make candidate`` = ``dvc repro evaluate``), never
registered: evaluate scores the registry's current `champion` on the same holdout (read-only), and this module
runs the quality gate as a dry run with the very function the register stage uses (``gate.decide``). So a
pull request moves no alias in the shared registry; only train.yml on main promotes.

After a full ``dvc repro`` (train.yml on main) ``registered=True`` reports the decision the register stage
really took, from reports/registration.json.

The first line of the report is a hidden marker (``<!-- <model name>-model-review -->``): the workflow finds
its earlier comment by it and updates that one instead of adding another.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .config import Config, UserError
from .gate import Gate, GateFailed, decide
from .metrics import GREATER_IS_BETTER

log = logging.getLogger(__name__)
METRICS = Path("reports/metrics.json")
REGISTRATION = Path("reports/registration.json")
VALIDATION = Path("reports/validation.json")
FIGURES = Path("reports/figures")
PLOTS = Path("reports/plots")
REPORT = Path("reports/review.md")
PARAMS = "params.yaml"
MAX_ROWS = 50  # longest params diff or failure list shown in full


def marker(model_name: str) -> str:
    return f"<!-- {model_name}-model-review -->"


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"search": {"max_trials": 12}}}`` -> ``{"train.search.max_trials": 12}`` (lists stay values)."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def params_diff(base: dict[str, Any], head: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, base value, head value) for every key added, removed or changed; a missing side is ``None``."""
    old, new = flatten(base), flatten(head)
    missing = object()
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, missing), new.get(key, missing)
        if before != after:
            changes.append((key, None if before is missing else before, None if after is missing else after))
    return changes


def params_at(ref: str, path: str = PARAMS) -> dict[str, Any]:
    """params.yaml as committed at ``ref`` (a branch, tag or commit); raises UserError when git cannot show it."""
    try:
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise UserError(f"cannot read {path} at {ref!r}: {detail.strip()}") from None
    return yaml.safe_load(shown.stdout) or {}


def dry_run_gate(holdout: dict[str, Any], cfg: Config) -> Gate:
    """The register stage's gate on evaluate's numbers, without touching the registry."""
    decision = decide(holdout["candidate"], holdout.get("champion"), cfg.register_, holdout.get("baseline"))
    return Gate(decision.promote, tuple(decision.reasons), "dry run")


def registered_gate(registration: dict[str, Any]) -> Gate:
    return Gate(bool(registration["promoted"]), tuple(registration.get("reasons", ())), "registered")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _cell(value: Any) -> str:
    """A params value as one table cell: JSON-ish, pipes escaped, long values cut."""
    text = "(absent)" if value is None else json.dumps(value, default=str)
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text[:77]}...`" if len(text) > 80 else f"`{text}`"


def metrics_section(holdout: dict[str, Any], gate_metric: str) -> list[str]:
    candidate, champion = holdout["candidate"], holdout.get("champion") or {}
    version = champion.get("version")
    heading = f"champion v{version}" if version is not None else "champion"
    lines = [f"| metric | candidate | {heading} | change |", "|---|---:|---:|---|"]
    for name, value in candidate.items():
        before = champion.get(name)
        change = "no champion yet" if not champion else "-"
        if isinstance(before, int | float) and isinstance(value, int | float):
            delta = value - before
            better = delta > 0 if GREATER_IS_BETTER.get(name, True) else delta < 0
            change = f"{delta:+.4f} {'better' if better else 'worse' if delta else 'same'}"
        label = f"**{name}** (gate)" if name == gate_metric else name
        lines.append(f"| {label} | {_number(value)} | {_number(before)} | {change} |")
    if champion.get("error"):
        lines.append("")
        lines.append(f"The champion could not be scored on this holdout: {champion['error']}")
    rows = holdout.get("holdout_rows")
    if rows is not None:
        lines += ["", f"Both models scored on the same holdout of {rows} rows."]
    return lines


def params_section(changes: list[tuple[str, Any, Any]] | None, base: str | None, problem: str | None) -> list[str]:
    if problem:
        return [f"Params diff unavailable: {problem}"]
    if changes is None:
        return ["No base to compare with (run with `--base <ref>`)."]
    if not changes:
        return [f"params.yaml is unchanged from `{base}`."]
    lines = [f"| key | `{base}` | this change |", "|---|---|---|"]
    lines += [f"| `{key}` | {_cell(old)} | {_cell(new)} |" for key, old, new in changes[:MAX_ROWS]]
    if len(changes) > MAX_ROWS:
        lines.append(f"| ... | {len(changes) - MAX_ROWS} more | |")
    return lines


def validation_section(validation: dict[str, Any] | None) -> list[str]:
    if validation is None:
        return ["No validation report (reports/validation.json is missing)."]
    stats = validation.get("statistics", {})
    passed = "passed" if validation.get("success") else "FAILED"
    lines = [
        f"Suite `{validation.get('suite', '?')}` {passed}: {stats.get('successful_expectations', '?')}/"
        f"{stats.get('evaluated_expectations', '?')} expectations met."
    ]
    failures = validation.get("failures") or []
    if failures:
        lines += ["", "| expectation | column | unexpected |", "|---|---|---|"]
        for failure in failures[:MAX_ROWS]:
            unexpected = failure.get("unexpected_count")
            lines.append(
                f"| {failure.get('expectation')} | {failure.get('column') or '-'} | "
                f"{unexpected if unexpected is not None else failure.get('observed', '-')} |"
            )
    return lines


def plots_section(figures: list[str], plots_url: str | None) -> list[str]:
    if not figures:
        return ["No figures were written."]
    names = ", ".join(f"`{name}`" for name in figures)
    if plots_url:
        return [f"[Download the plots]({plots_url}) (workflow artifact): {names}."]
    return [f"Figures in reports/figures/: {names}."]


def render(
    *,
    model_name: str,
    gate: Gate,
    gate_metric: str,
    holdout: dict[str, Any],
    validation: dict[str, Any] | None,
    changes: list[tuple[str, Any, Any]] | None,
    base: str | None,
    params_problem: str | None = None,
    figures: tuple[str, ...] | list[str] = (),
    plots_url: str | None = None,
    run_url: str | None = None,
) -> str:
    """The whole comment body (markdown), marker first."""
    if gate.promote:
        verdict = (
            "passes the gate: it would become champion" if gate.source == "dry run" else "was promoted to champion"
        )
        title = f"## :white_check_mark: Model review: `{model_name}` {verdict}"
    else:
        verdict = (
            "fails the gate: it would not become champion" if gate.source == "dry run" else "was kept as challenger"
        )
        title = f"## :x: Model review: `{model_name}` {verdict}"
    lines = [marker(model_name), title, ""]
    lines += [f"### Quality gate ({gate.source})", "", *(f"- {reason}" for reason in gate.reasons), ""]
    lines += ["### Holdout metrics: candidate vs champion", "", *metrics_section(holdout, gate_metric), ""]
    lines += ["### Params diff", "", *params_section(changes, base, params_problem), ""]
    lines += ["### Data validation", "", *validation_section(validation), ""]
    lines += ["### Plots", "", *plots_section(list(figures), plots_url), ""]
    if run_url:
        lines += [f"<sub>[Workflow run]({run_url})</sub>", ""]
    return "\n".join(lines)


def run_url(env: dict[str, str]) -> str | None:
    """The Actions run's page from the variables every GitHub runner sets; None outside Actions."""
    server, repository, run_id = (env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repository}/actions/runs/{run_id}" if server and repository and run_id else None


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


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
    holdout = _read_json(METRICS)
    if holdout is None:
        raise UserError(f"{METRICS} not found: run `make candidate` (dvc repro evaluate) first")
    if registered:
        registration = _read_json(REGISTRATION)
        if registration is None:
            raise UserError(f"{REGISTRATION} not found: run the whole pipeline (dvc repro) first")
        gate = registered_gate(registration)
    else:
        gate = dry_run_gate(holdout, cfg)

    changes, problem = None, None
    if base:
        try:
            changes = params_diff(params_at(base), yaml.safe_load(Path(PARAMS).read_text()) or {})
        except UserError as error:
            problem = str(error)
    figures = sorted(p.name for p in FIGURES.glob("*.png")) if FIGURES.is_dir() else []
    body = render(
        model_name=cfg.tracking.model_name,
        gate=gate,
        gate_metric=cfg.register_.metric,
        holdout=holdout,
        validation=_read_json(VALIDATION),
        changes=changes,
        base=base,
        params_problem=problem,
        figures=figures,
        plots_url=plots_url,
        run_url=link,
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
