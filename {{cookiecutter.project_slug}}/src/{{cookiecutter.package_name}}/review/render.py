"""The review's markdown: one comment a reviewer can decide on, hidden marker first.

Everything a pull request controls (params keys and values, metric, model, class and expectation names) reaches
the comment only inside code spans (``code``) or sanitised chart labels (charts.py), so none of it becomes markup, a
link or a mention. The first line is a hidden marker (``<!-- <model name>-model-review -->``): the workflow finds its
earlier comment by it and updates that one instead of adding another.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..core.config import MODEL_NAME
from ..core.errors import UserError
from ..core.gate import Gate
from ..core.metrics import GREATER_IS_BETTER
from ..core.reports import HoldoutMetrics, Validation
from .charts import curve_chart, is_number, metric_charts, read_json, search_chart
from .facts import ABSENT, Lineage
from .profiles import Profiles

MAX_ROWS = 50  # longest validation-failure list shown
OPEN_ROWS = 25  # a longer params diff is folded into <details> (every row is still there)


def code(value: Any, *, table: bool = False) -> str:
    """Any text as one inline code span, which GitHub shows literally: no markup, HTML, link, mention or emoji.

    Line breaks become a visible ``⏎``; the fence is one backtick longer than the longest run inside; in a
    table cell ``|`` is escaped (GFM splits cells before it parses code spans).
    """
    text = str(value)
    text = re.sub(r"\r\n|\r|\n", "⏎", text)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "\N{REPLACEMENT CHARACTER}", text)
    if not text:
        return '`""`'
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padded = text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" "))
    pad = " " if padded else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _json(value: Any) -> str:
    return "(absent)" if value is ABSENT else json.dumps(value, default=str, ensure_ascii=False)


def marker(model_name: str) -> str:
    """The hidden first line; only a name the comment job's regex accepts can be put inside an HTML comment."""
    if not MODEL_NAME.match(model_name):
        raise UserError(
            f"tracking.model_name {model_name!r} cannot name the review comment: use letters, digits, '.', '_', '-'"
        )
    return f"<!-- {model_name}-model-review -->"


def confusion_table(plots: Path) -> list[str]:
    """Holdout counts, actual class by row and predicted class by column, from evaluate's DVC plot data."""
    rows = read_json(plots / "confusion.json")
    if not (isinstance(rows, list) and rows and all({"actual", "predicted"} <= set(r) for r in rows)):
        return []
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (str(row["actual"]), str(row["predicted"]))
        counts[key] = counts.get(key, 0) + 1
    labels = sorted({label for pair in counts for label in pair})
    lines = ["| actual ↓ predicted → | " + " | ".join(code(label, table=True) for label in labels) + " |"]
    lines.append("|---|" + "---:|" * len(labels))
    for actual in labels:
        cells = " | ".join(str(counts.get((actual, predicted), 0)) for predicted in labels)
        lines.append(f"| {code(actual, table=True)} | {cells} |")
    return lines


def _number(value: Any) -> str:
    return f"{value:.4f}" if is_number(value) else "-"


def metrics_section(holdout: HoldoutMetrics, gate_metric: str) -> list[str]:
    champion = holdout.champion
    scores = champion.scores if champion is not None else {}
    heading = f"champion v{champion.version}" if champion is not None else "champion"
    lines = [f"| metric | candidate | {heading} | change |", "|---|---:|---:|---|"]
    for name, value in holdout.candidate.items():
        before = scores.get(name)
        change = "no champion yet" if champion is None else "-"
        if is_number(before) and is_number(value):
            delta = value - before
            better = delta > 0 if GREATER_IS_BETTER.get(name, True) else delta < 0
            change = f"{delta:+.4f} {'better' if better else 'worse' if delta else 'same'}"
        label = f"**{code(name, table=True)}** (gate)" if name == gate_metric else code(name, table=True)
        lines.append(f"| {label} | {_number(value)} | {_number(before)} | {change} |")
    if champion is not None and champion.error:
        lines.append("")
        lines.append(f"The champion could not be scored on this holdout: {code(champion.error)}")
    lines += ["", f"Both models scored on the same holdout of {holdout.holdout_rows} rows.", *threshold_lines(holdout)]
    return lines


def threshold_lines(holdout: HoldoutMetrics) -> list[str]:
    """A binary target's decision rule: the candidate's tuned threshold and what it changes against 0.5."""
    rule = holdout.threshold
    if rule is None:
        return []
    at, half = rule.at_threshold, rule.at_0_5
    tuned = f"threshold {rule.threshold:.4f} (tuned for {code(rule.objective)})" if rule.threshold else "threshold 0.5"
    return [
        "",
        (
            f"Positive class {code(rule.positive_class)}, {tuned}: precision {at.precision:.4f}, recall "
            f"{at.recall:.4f}, f1 {at.f1:.4f}; at 0.5: {half.precision:.4f}, {half.recall:.4f}, {half.f1:.4f}. The "
            "candidate's labels (accuracy, f1, precision, recall above) are at its threshold."
        ),
    ]


def candidate_section(lineage: Lineage) -> list[str]:
    lines = []
    if lineage.family:
        lines.append(f"- winning family: {code(lineage.family)}")
    if lineage.hyperparameters:
        settings = ", ".join(f"{code(k)} = {code(_json(v))}" for k, v in sorted(lineage.hyperparameters.items()))
        lines.append(f"- hyperparameters: {settings}")
    elif lineage.family:
        lines.append("- hyperparameters: the family's defaults")
    if lineage.run_id:
        run = code(lineage.run_id)
        lines.append(f"- MLflow run: [{run}]({lineage.run_link})" if lineage.run_link else f"- MLflow run: {run}")
    if lineage.commit:
        lines.append(f"- commit: {code(lineage.commit)}")
    for what, md5 in lineage.data.items():
        lines.append(f"- data: {code(what)} md5 {code(md5)}")
    lines += [f"- {note}" for note in lineage.notes]
    return lines or ["No candidate details (models/candidate.json is missing)."]


PROFILE_ROWS = (  # (field, label, format)
    ("latency_p50_ms", "single-row latency p50, ms (CPU time)", "{:.3g}"),
    ("latency_p99_ms", "single-row latency p99, ms (CPU time)", "{:.3g}"),
    ("rows_per_s", "holdout rows/s (one core)", "{:,.0f}"),
    ("size_mb", "model size, MiB", "{:.3g}"),
    ("load_s", "load time, s (fresh process)", "{:.3g}"),
    ("rss_mb", "peak RSS after load, MiB", "{:,.0f}"),
    ("features", "input features", "{}"),
)


def profile_section(profiles: Profiles) -> list[str]:
    """The candidate's profile beside the champion's (training/profiling.py: how each figure is measured)."""
    candidate, champion = profiles.candidate, profiles.champion
    if candidate is None and champion is None and profiles.problem is None:
        return ["No profiles (no candidate was profiled and the champion has none)."]
    heading = f"champion v{profiles.champion_version}" if profiles.champion_version is not None else "champion"
    lines = [f"| | candidate | {heading} |", "|---|---:|---:|"]
    runtimes = [code(p.runtime, table=True) if p is not None else "-" for p in (candidate, champion)]
    lines.append(f"| runtime | {runtimes[0]} | {runtimes[1]} |")
    for field, label, form in PROFILE_ROWS:
        cells = [form.format(getattr(p, field)) if p is not None else "-" for p in (candidate, champion)]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    if profiles.problem is not None:
        lines += ["", f"The candidate could not be profiled: {code(profiles.problem)}"]
    if champion is None and profiles.champion_version is not None:
        lines += ["", f"Champion v{profiles.champion_version} was registered before profiling: it has no profile."]
    return lines


def _cell(value: Any) -> str:
    """A params value as one table cell: JSON, whole, literal."""
    return code(_json(value), table=True)


def params_section(changes: list[tuple[str, Any, Any]] | None, base: str | None, problem: str | None) -> list[str]:
    if problem:
        return [f"Params diff unavailable: {code(problem)}"]
    if changes is None:
        return ["No base to compare with (run with `--base <ref>`)."]
    if not changes:
        return [f"params.yaml is unchanged from {code(base)}."]
    table = [f"| key | {code(base, table=True)} | this change |", "|---|---|---|"]
    table += [f"| {code(key, table=True)} | {_cell(old)} | {_cell(new)} |" for key, old, new in changes]
    if len(changes) <= OPEN_ROWS:
        return table
    return [f"<details><summary>{len(changes)} changed values</summary>", "", *table, "", "</details>"]


def validation_section(validation: Validation | None) -> list[str]:
    if validation is None:
        return ["No validation report (reports/validation.json is missing)."]
    stats = validation.statistics
    passed = "passed" if validation.success else "FAILED"
    lines = [
        (
            f"Suite {code(validation.suite or '?')} {passed}: {stats.successful_expectations}/"
            f"{stats.evaluated_expectations} expectations met."
        )
    ]
    failures = validation.failures
    if failures:
        lines += ["", "| expectation | column | unexpected |", "|---|---|---|"]
        for failure in failures[:MAX_ROWS]:
            unexpected = failure.unexpected_count
            found = unexpected if unexpected is not None else failure.observed
            column = failure.column
            lines.append(
                f"| {code(failure.expectation, table=True)} | {code(column, table=True) if column else '-'} | "
                f"{code(found, table=True)} |"
            )
        if len(failures) > MAX_ROWS:
            lines.append(f"| ... | {len(failures) - MAX_ROWS} more in reports/validation.json | |")
    return lines


def plots_section(figures: list[str], plots_url: str | None) -> list[str]:
    if not figures:
        return ["No figures were written."]
    names = ", ".join(code(name) for name in figures)
    if plots_url:
        return [f"The PNGs: [download the plots]({plots_url}) (workflow artifact): {names}."]
    return [f"The PNGs are in reports/figures/: {names}."]


def _title(model_name: str, gate: Gate, already_champion: int | None) -> str:
    name = code(model_name)
    if already_champion is not None:
        return f"## :white_check_mark: Model review: {name} candidate is already the champion (v{already_champion})"
    if gate.promote:
        verdict = (
            "passes the gate: it would become champion" if gate.source == "dry run" else "was promoted to champion"
        )
        return f"## :white_check_mark: Model review: {name} {verdict}"
    verdict = "fails the gate: it would not become champion" if gate.source == "dry run" else "was kept as challenger"
    return f"## :x: Model review: {name} {verdict}"


def render(
    *,
    model_name: str,
    gate: Gate,
    gate_metric: str,
    holdout: HoldoutMetrics,
    validation: Validation | None,
    changes: list[tuple[str, Any, Any]] | None,
    base: str | None,
    params_problem: str | None = None,
    figures: tuple[str, ...] | list[str] = (),
    plots_url: str | None = None,
    run_url: str | None = None,
    lineage: Lineage | None = None,
    plots: Path | None = None,
    champion_note: str | None = None,
    already_champion: int | None = None,
    profiles: Profiles | None = None,
) -> str:
    """The whole comment body (markdown), marker first."""
    lineage = lineage or Lineage()
    lines = [marker(model_name), _title(model_name, gate, already_champion), ""]
    lines += [
        (
            "_Advisory: this comment reports; the required check is the review job's status, which fails when the "
            "quality gate does._"
        ),
        "",
    ]
    lines += [f"### Quality gate ({gate.source})", "", *(f"- {code(reason)}" for reason in gate.reasons), ""]
    lines += ["### Candidate", "", *candidate_section(lineage), ""]
    lines += ["### Holdout metrics: candidate vs champion", ""]
    if champion_note:
        lines += [champion_note, ""]
    lines += [*metrics_section(holdout, gate_metric), ""]
    charts = metric_charts(holdout, gate_metric)
    if charts:
        lines += [*charts, ""]
    lines += ["### Profile: candidate vs champion", "", *profile_section(profiles or Profiles()), ""]
    curve = curve_chart(plots, holdout) if plots is not None else []
    if curve:
        lines += ["### Holdout curve", "", *curve, ""]
    confusion = confusion_table(plots) if plots is not None else []
    if confusion:
        lines += ["### Confusion matrix (holdout counts)", "", *confusion, ""]
    search = search_chart(lineage)
    if search:
        lines += ["### Model search", "", *search, ""]
    lines += ["### Params diff", "", *params_section(changes, base, params_problem), ""]
    lines += ["### Data validation", "", *validation_section(validation), ""]
    lines += ["### Plots", "", *plots_section(list(figures), plots_url), ""]
    if run_url:
        lines += [f"<sub>[Workflow run]({run_url})</sub>", ""]
    return "\n".join(lines)
