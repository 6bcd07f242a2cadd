"""review: the pull-request report, one markdown comment a reviewer can decide on.

For a pull request the candidate is trained and evaluated (``make candidate`` = ``dvc repro evaluate``), never
registered: evaluate scores the registry's current `champion` on the same holdout (read-only), and this module
runs the quality gate as a dry run with the very function the register stage uses (``gate.decide``). So a
pull request moves no alias in the shared registry; only train.yml on main promotes.

The comparison is always with the champion as it is *now*: when the registry's champion moved since evaluate
ran (a merge on main, or this very candidate promoted by ``make pipeline``), the current champion is scored on
the same holdout again, or the report says that the candidate already is the champion.

After a full ``dvc repro`` (train.yml on main) ``registered=True`` reports the decision the register stage
really took, from reports/registration.json.

Everything a pull request controls (params keys and values, metric, model, class and expectation names) reaches
the comment only inside code spans or sanitised chart labels, so none of it becomes markup, a link or a mention.
Charts are Mermaid ``xychart-beta`` blocks that GitHub draws inline; the PNGs stay in the workflow artifact.

The first line of the report is a hidden marker (``<!-- <model name>-model-review -->``): the workflow finds
its earlier comment by it and updates that one instead of adding another.
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlsplit

import yaml

from .config import MODEL_NAME, Config, Paths, UserError
from .gate import Gate, GateFailed, decide
from .metrics import GREATER_IS_BETTER

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)
DVC_LOCK = Path("dvc.lock")
REPORT = Path("reports/review.md")
PARAMS = "params.yaml"
MAX_ROWS = 50  # longest validation-failure list shown
OPEN_ROWS = 25  # a longer params diff is folded into <details> (every row is still there)
CURVE_POINTS = 21  # points of the ROC curve chart (false positive rate 0, 0.05, ..., 1)
RESIDUAL_BINS = 10
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


# --- untrusted text -------------------------------------------------------------------------------------------


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


# --- params diff ----------------------------------------------------------------------------------------------


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


# --- the gate -------------------------------------------------------------------------------------------------


def dry_run_gate(holdout: dict[str, Any], cfg: Config) -> Gate:
    """The register stage's gate on evaluate's numbers, without touching the registry."""
    decision = decide(holdout["candidate"], holdout.get("champion"), cfg.register_, holdout.get("baseline"))
    return Gate(decision.promote, tuple(decision.reasons), "dry run")


def registered_gate(registration: dict[str, Any]) -> Gate:
    return Gate(bool(registration["promoted"]), tuple(registration.get("reasons", ())), "registered")


def already_champion_gate(version: int) -> Gate:
    return Gate(
        True, (f"pass: this candidate is champion v{version} already; nothing would change",), "already champion"
    )


# --- Mermaid charts -------------------------------------------------------------------------------------------


def chart_label(text: Any, limit: int = 60) -> str:
    """Text for a Mermaid label: letters, digits and a few signs; anything else (quotes, brackets, backticks,
    line breaks) becomes ``_``, so a label can neither end its string nor the code block."""
    cleaned = re.sub(r"[^A-Za-z0-9 _.,:=()+-]", "_", str(text)).strip() or "_"
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _axis_range(values: list[float], *, symmetric: bool = False, floor: float | None = None) -> tuple[float, float]:
    """A y range that shows the differences: a little wider than the data, not 0..1."""
    if symmetric:
        reach = max((abs(v) for v in values), default=0.0) * 1.2 or 1e-4
        return -reach, reach
    low, high = min(values), max(values)
    pad = (high - low) * 0.25 or max(abs(high) * 0.01, 1e-4)
    low, high = low - pad, high + pad
    if floor is not None and low < floor <= min(values):
        low = floor
    return low, high


def xychart(
    title: str,
    labels: list[str] | None,
    series: list[tuple[str, list[float]]],
    *,
    y_title: str,
    y_range: tuple[float, float],
    x_title: str | None = None,
    x_range: tuple[float, float] | None = None,
    horizontal: bool = False,
) -> list[str]:
    """One fenced ``mermaid`` block with an ``xychart-beta`` (Mermaid >= 10.5, which GitHub renders).

    The x axis is either categories (``labels``) or a numeric range whose points are evenly spaced.
    """
    lines = [
        "```mermaid",
        "xychart-beta horizontal" if horizontal else "xychart-beta",
        f'    title "{chart_label(title, 100)}"',
    ]
    if labels is not None:
        lines.append("    x-axis [" + ", ".join(f'"{chart_label(label)}"' for label in labels) + "]")
    else:
        low, high = x_range or (0.0, 1.0)
        lines.append(f'    x-axis "{chart_label(x_title or "")}" {_num(low)} --> {_num(high)}')
    lines.append(f'    y-axis "{chart_label(y_title)}" {_num(y_range[0])} --> {_num(y_range[1])}')
    for kind, values in series:
        lines.append(f"    {kind} [" + ", ".join(_num(v) for v in values) + "]")
    lines.append("```")
    return lines


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric_charts(holdout: dict[str, Any], gate_metric: str) -> list[str]:
    """The gate metric, champion vs candidate, and every metric's change in its better direction."""
    candidate, champion = holdout["candidate"], holdout.get("champion") or {}
    value, before = candidate.get(gate_metric), champion.get(gate_metric)
    if not (_is_number(value) and _is_number(before)):
        return []
    lines = xychart(
        f"{gate_metric} on the holdout (gate metric)",
        [f"champion v{champion.get('version', '?')}", "candidate"],
        [("bar", [before, value])],
        y_title=gate_metric,
        y_range=_axis_range([before, value]),
    )
    names = [n for n, v in candidate.items() if _is_number(v) and _is_number(champion.get(n))]
    gains = [(candidate[n] - champion[n]) * (1 if GREATER_IS_BETTER.get(n, True) else -1) for n in names]
    lines.append("")
    lines += xychart(
        "Candidate minus champion, each metric signed so that up is better",
        names,
        [("bar", gains)],
        y_title="improvement",
        y_range=_axis_range(gains, symmetric=True),
    )
    return lines


def search_chart(lineage: Lineage) -> list[str]:
    scored = [(name, score) for name, score, _ in lineage.trials if math.isfinite(score)]
    if not scored:
        return []
    metric = lineage.search_metric or "score"
    return xychart(
        f"Model search: cross-validated {metric} per trial, in the order they ran",
        [name for name, _ in scored],
        [("bar", [score for _, score in scored])],
        y_title=f"cv {metric}",
        y_range=_axis_range([score for _, score in scored]),
        horizontal=True,
    )


def roc_points(rows: list[dict[str, Any]], points: int = CURVE_POINTS) -> list[float]:
    """The ROC curve at evenly spaced false positive rates: the best true positive rate reached at or below each
    (the curve is a staircase, so this is exact at the grid, not a smoothing)."""
    curve = sorted((float(r["fpr"]), float(r["tpr"])) for r in rows)
    grid = [i / (points - 1) for i in range(points)]
    return [max((tpr for fpr, tpr in curve if fpr <= x + 1e-12), default=0.0) for x in grid]


def residual_bins(rows: list[dict[str, Any]], bins: int = RESIDUAL_BINS) -> tuple[list[str], list[float]]:
    """Mean residual in equal-count bins of the predicted value (labels: the bin's mean prediction)."""
    ordered = sorted((float(r["predicted"]), float(r["residual"])) for r in rows)
    bins = max(1, min(bins, len(ordered)))
    size = len(ordered) / bins
    labels, means = [], []
    for i in range(bins):
        chunk = ordered[round(i * size) : round((i + 1) * size)]
        if chunk:
            labels.append(f"{sum(p for p, _ in chunk) / len(chunk):.4g}")
            means.append(sum(r for _, r in chunk) / len(chunk))
    return labels, means


def curve_chart(plots: Path, holdout: dict[str, Any]) -> list[str]:
    """The ROC curve (binary classification) or the residuals (regression), from evaluate's DVC plot data."""
    roc = _read_json(plots / "roc.json")
    if isinstance(roc, list) and roc and all({"fpr", "tpr"} <= set(r) for r in roc):
        auc = holdout["candidate"].get("roc_auc")
        tprs = roc_points(roc)
        chance = [i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
        title = "ROC curve on the holdout" + (f" (AUC {auc:.4f})" if _is_number(auc) else "") + ", with chance"
        return xychart(
            title,
            None,
            [("line", tprs), ("line", chance)],
            y_title="true positive rate",
            y_range=(0.0, 1.0),
            x_title="false positive rate",
            x_range=(0.0, 1.0),
        )
    residuals = _read_json(plots / "residuals.json")
    if isinstance(residuals, list) and residuals and all({"predicted", "residual"} <= set(r) for r in residuals):
        labels, means = residual_bins(residuals)
        return xychart(
            f"Mean residual (actual - predicted) by predicted value, {len(labels)} equal-size bins of the holdout",
            labels,
            [("bar", means)],
            y_title="mean residual",
            y_range=_axis_range(means, symmetric=True),
        )
    return []


def confusion_table(plots: Path) -> list[str]:
    """Holdout counts, actual class by row and predicted class by column, from evaluate's DVC plot data."""
    rows = _read_json(plots / "confusion.json")
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


# --- sections -------------------------------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.4f}" if _is_number(value) else "-"


def metrics_section(holdout: dict[str, Any], gate_metric: str) -> list[str]:
    candidate, champion = holdout["candidate"], holdout.get("champion") or {}
    version = champion.get("version")
    heading = f"champion v{version}" if isinstance(version, int) else "champion"
    lines = [f"| metric | candidate | {heading} | change |", "|---|---:|---:|---|"]
    for name, value in candidate.items():
        before = champion.get(name)
        change = "no champion yet" if not champion else "-"
        if _is_number(before) and _is_number(value):
            delta = value - before
            better = delta > 0 if GREATER_IS_BETTER.get(name, True) else delta < 0
            change = f"{delta:+.4f} {'better' if better else 'worse' if delta else 'same'}"
        label = f"**{code(name, table=True)}** (gate)" if name == gate_metric else code(name, table=True)
        lines.append(f"| {label} | {_number(value)} | {_number(before)} | {change} |")
    if champion.get("error"):
        lines.append("")
        lines.append(f"The champion could not be scored on this holdout: {code(champion['error'])}")
    rows = holdout.get("holdout_rows")
    if isinstance(rows, int):
        lines += ["", f"Both models scored on the same holdout of {rows} rows."]
    return lines


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


def validation_section(validation: dict[str, Any] | None) -> list[str]:
    if validation is None:
        return ["No validation report (reports/validation.json is missing)."]
    stats = validation.get("statistics", {})
    passed = "passed" if validation.get("success") else "FAILED"
    lines = [
        (
            f"Suite {code(validation.get('suite', '?'))} {passed}: {_count(stats.get('successful_expectations'))}/"
            f"{_count(stats.get('evaluated_expectations'))} expectations met."
        )
    ]
    failures = validation.get("failures") or []
    if failures:
        lines += ["", "| expectation | column | unexpected |", "|---|---|---|"]
        for failure in failures[:MAX_ROWS]:
            unexpected = failure.get("unexpected_count")
            found = unexpected if unexpected is not None else failure.get("observed", "-")
            column = failure.get("column")
            lines.append(
                f"| {code(failure.get('expectation'), table=True)} | {code(column, table=True) if column else '-'} | "
                f"{code(found, table=True)} |"
            )
        if len(failures) > MAX_ROWS:
            lines.append(f"| ... | {len(failures) - MAX_ROWS} more in reports/validation.json | |")
    return lines


def _count(value: Any) -> str:
    return str(value) if isinstance(value, int) else "?"


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
    holdout: dict[str, Any],
    validation: dict[str, Any] | None,
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


# --- facts from the files and the registry --------------------------------------------------------------------


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
class Registry:
    """The registry's answers the report needs: the champion now, and the candidate's run."""

    holdout: dict[str, Any]
    already_champion: int | None = None
    note: str | None = None


def champion_now(
    cfg: Config, client: MlflowClient, holdout: dict[str, Any], candidate: dict[str, Any] | None
) -> Registry:
    """Compare with the champion as the registry has it now, not as evaluate saw it."""
    from . import tracking

    version = tracking.version_by_alias(client, cfg.tracking.model_name, tracking.CHAMPION)
    evaluated = (holdout.get("champion") or {}).get("version")
    if version is None:
        if evaluated is None:
            return Registry(holdout)
        return Registry({**holdout, "champion": None}, note="The registry has no champion any more.")
    number = int(version.version)
    same = (
        [(version.source, candidate.get("model_uri")), (version.run_id, candidate.get("run_id"))] if candidate else []
    )
    if any(mine and mine == theirs for mine, theirs in same):
        return Registry(holdout, already_champion=number)
    if evaluated == number:
        return Registry(holdout)
    rescored = rescore_champion(cfg, client)
    note = f"The champion moved since evaluate ran (v{evaluated} -> v{number}): v{number} was scored again on this holdout."
    if evaluated is None:
        note = f"A champion (v{number}) appeared since evaluate ran: it was scored on this holdout."
    return Registry({**holdout, "champion": rescored}, note=note)


def rescore_champion(cfg: Config, client: MlflowClient) -> dict[str, Any] | None:
    """The current champion's metrics on the holdout, the way evaluate computes them."""
    import pandas as pd

    from . import features
    from .stages import evaluate

    schema = features.Schema.load(cfg.paths.features)
    test = pd.read_parquet(cfg.paths.holdout)
    return evaluate.champion_metrics(cfg, client, features.conform(test, schema), test[schema.target], schema)


def candidate_lineage(cfg: Config, candidate: dict[str, Any] | None, client: MlflowClient | None) -> Lineage:
    """Family, hyperparameters, run (with a link on an http(s) server), commit, data hashes and the search."""
    lineage = Lineage(data=dvc_data_hashes(cfg.paths), search_metric=cfg.train.metric)
    if candidate is None:
        return lineage
    lineage.family = candidate.get("family")
    lineage.hyperparameters = dict(candidate.get("params") or {})
    lineage.run_id = candidate.get("run_id")
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
    from . import tracking

    try:
        return tracking.configure(cfg.tracking)
    except Exception as error:
        log.warning("tracking store %s not usable for the review: %s", cfg.tracking.resolved_uri, error)
        return None


def _read_json(path: Path) -> Any:
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
    marker(cfg.tracking.model_name)  # a name the comment cannot carry fails before any work
    paths = cfg.paths
    holdout = _read_json(paths.metrics)
    if holdout is None:
        raise UserError(f"{paths.metrics} not found: run `make candidate` (dvc repro evaluate) first")
    candidate = _read_json(paths.candidate)

    client = mlflow_client(cfg) if candidate is not None else None
    lineage, registry = Lineage(), Registry(holdout)
    try:
        lineage = candidate_lineage(cfg, candidate, client)
    except Exception as error:  # the run may live in another store: the rest of the report still stands
        log.warning("MLflow run details unavailable: %s", error)
        lineage = candidate_lineage(cfg, candidate, None)
        lineage.notes.append(f"MLflow run details unavailable ({type(error).__name__}).")
    if client is not None and not registered:
        try:
            registry = champion_now(cfg, client, holdout, candidate)
        except Exception as error:  # an unreachable server must not hide the rest of the report
            log.warning("registry not readable for the review: %s", error)
            registry.note = f"The registry could not be read ({type(error).__name__}): compared with the champion as evaluate saw it."

    if registered:
        registration = _read_json(paths.registration)
        if registration is None:
            raise UserError(f"{paths.registration} not found: run the whole pipeline (dvc repro) first")
        gate = registered_gate(registration)
    elif registry.already_champion is not None:
        gate = already_champion_gate(registry.already_champion)
    else:
        gate = dry_run_gate(registry.holdout, cfg)

    changes, problem = None, None
    if base:
        try:
            changes = params_diff(params_at(base), yaml.safe_load(Path(PARAMS).read_text()) or {})
        except UserError as error:
            problem = str(error)
    figures = sorted(p.name for p in paths.figures.glob("*.png")) if paths.figures.is_dir() else []
    if registry.already_champion is not None:
        before = (holdout.get("champion") or {}).get("version")
        registry.note = f"This candidate became champion v{registry.already_champion} after evaluate ran; " + (
            f"the champion column is v{before}, the one it replaced."
            if before is not None
            else "there was none before."
        )
    body = render(
        model_name=cfg.tracking.model_name,
        gate=gate,
        gate_metric=cfg.register_.metric,
        holdout=registry.holdout,
        validation=_read_json(paths.validation),
        changes=changes,
        base=base,
        params_problem=problem,
        figures=figures,
        plots_url=plots_url,
        run_url=link,
        lineage=lineage,
        plots=paths.plots,
        champion_note=registry.note,
        already_champion=registry.already_champion,
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
