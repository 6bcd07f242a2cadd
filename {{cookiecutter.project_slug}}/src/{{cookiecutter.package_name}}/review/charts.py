"""The review's charts: Mermaid ``xychart-beta`` blocks that GitHub draws inline (Mermaid >= 10.5).

Everything a pull request controls reaches a chart only through ``chart_label`` (letters, digits and a few signs),
so a label can neither end its string nor the code block.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, TypeGuard

from ..core.metrics import GREATER_IS_BETTER
from ..core.reports import HoldoutMetrics
from .facts import Lineage

CURVE_POINTS = 21  # points of the ROC curve chart (false positive rate 0, 0.05, ..., 1)
RESIDUAL_BINS = 10


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


def is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric_charts(holdout: HoldoutMetrics, gate_metric: str) -> list[str]:
    """The gate metric, champion vs candidate, and every metric's change in its better direction."""
    candidate = holdout.candidate
    champion = holdout.champion.scores if holdout.champion is not None else {}
    value, before = candidate.get(gate_metric), champion.get(gate_metric)
    if not (is_number(value) and is_number(before)) or holdout.champion is None:
        return []
    lines = xychart(
        f"{gate_metric} on the holdout (gate metric)",
        [f"champion v{holdout.champion.version}", "candidate"],
        [("bar", [before, value])],
        y_title=gate_metric,
        y_range=_axis_range([before, value]),
    )
    names = [n for n, v in candidate.items() if is_number(v) and is_number(champion.get(n))]
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


def curve_chart(plots: Path, holdout: HoldoutMetrics) -> list[str]:
    """The ROC curve (binary classification) or the residuals (regression), from evaluate's DVC plot data."""
    roc = read_json(plots / "roc.json")
    if isinstance(roc, list) and roc and all({"fpr", "tpr"} <= set(r) for r in roc):
        auc = holdout.candidate.get("roc_auc")
        tprs = roc_points(roc)
        chance = [i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
        title = "ROC curve on the holdout" + (f" (AUC {auc:.4f})" if is_number(auc) else "") + ", with chance"
        return xychart(
            title,
            None,
            [("line", tprs), ("line", chance)],
            y_title="true positive rate",
            y_range=(0.0, 1.0),
            x_title="false positive rate",
            x_range=(0.0, 1.0),
        )
    residuals = read_json(plots / "residuals.json")
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


def read_json(path: Path) -> Any:
    """evaluate's DVC plot data (a list of rows), or None when the file is not there."""
    return json.loads(path.read_text()) if path.exists() else None
