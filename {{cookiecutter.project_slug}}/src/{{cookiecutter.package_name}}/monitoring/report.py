"""The monitoring summary for people: GitHub markdown (the job summary, the alert issue, the retraining pull
request), a few lines for the terminal, and an offline HTML page (inline CSS and SVG, nothing fetched)."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

MARKER = "<!-- monitoring-alert -->"  # finds the one open monitoring issue again (monitor.yml)


def markdown(summary: dict[str, Any]) -> str:
    """The summary as GitHub markdown: the job summary, the alert issue and the retraining pull request."""
    live = summary["live_metrics"]
    lines = [
        MARKER,
        f"## Monitoring: **{summary['decision'].upper()}** for {summary['model_name']} v{summary['model_version']}",
        "",
        f"Window {summary['window']['from']} to {summary['window']['to']}: {summary['rows']} served row(s).",
        "",
        *[f"- {reason}" for reason in summary["reasons"]],
        "",
        "| check | result |",
        "|---|---|",
        (
            f"| drifted features | {len(summary['drifted_features'])}/{summary['features']} "
            f"({', '.join(summary['drifted_features']) or 'none'}) |"
        ),
        (
            "| watch (p < 0.05 uncorrected) | "
            + (", ".join(d["feature"] for d in summary["drift"] if d.get("level") == "watch") or "none")
            + " |"
        ),
        f"| data quality | {summary['quality']['met']}/{summary['quality']['evaluated']} expectations met |",
        f"| live metrics ({live.get('labelled_rows', 0)} labelled) | "
        + (", ".join(f"{k} {v:.4f}" for k, v in live.items() if k != "labelled_rows") or "none")
        + f" (holdout {summary['holdout_metric']} {_fmt(summary['holdout_score'])}) |",
        "",
        "The full report is reports/monitoring/report.html (the run's `monitoring` artifact).",
    ]
    return "\n".join(lines) + "\n"


def describe(summary: dict[str, Any]) -> str:
    live = summary["live_metrics"]
    lines = [
        (
            f"monitoring {summary['window']['since']}: {summary['rows']} served row(s), "
            f"{summary['model_name']} v{summary['model_version']}: {summary['decision'].upper()}"
        ),
        (
            f"  drift: {len(summary['drifted_features'])}/{summary['features']} feature(s) "
            f"({', '.join(summary['drifted_features']) or 'none'})"
        ),
        f"  quality: {summary['quality']['met']}/{summary['quality']['evaluated']} expectations met",
        f"  live metrics: {live.get('labelled_rows', 0)} labelled row(s) "
        + ", ".join(f"{k} {v:.4f}" for k, v in live.items() if k != "labelled_rows"),
    ]
    lines += [f"  - {reason}" for reason in summary["reasons"]]
    return "\n".join(lines)


STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}.ok{color:#176f2c}.alert{color:#a15c00}.retrain{color:#b00020}
tr.drift{background:#fde8e8}tr.watch{background:#fff6db}.warning{background:#fff6db;padding:.5rem .8rem;border-left:4px solid #d9a300}
.charts{display:flex;flex-wrap:wrap;gap:1rem 1.5rem}figure{margin:0}figcaption{font-size:12px;color:#555;max-width:360px}
h1 span{font-size:1rem;padding:.2rem .6rem;border-radius:.3rem;border:1px solid currentColor}"""
REPEATS_DOMINATE = 0.5  # fewer distinct rows than this share of the window: the drift tests overstate the evidence
MAX_CHARTS = 12  # features drawn (drifted and watched ones, strongest evidence first)


def _table(rows: list[dict[str, Any]], level: str | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0] if k != level)
    body = []
    for row in rows:
        cls = f' class="{html.escape(str(row[level]))}"' if level and row.get(level) else ""
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for k, v in row.items() if k != level)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return ""
    return str(value)


def effect_text(effect: dict[str, Any]) -> str:
    """The effect size in words: "+2.0 sd, spread x1.10" or "'basic' +35 points"."""
    if "mean_shift_sd" in effect:
        return f"mean {effect['mean_shift_sd']:+.2f} sd, spread x{effect['spread_ratio']:.2f}"
    if "share_change" in effect:
        return f"{effect['category']!r} {100 * effect['share_change']:+.0f} points"
    return ""


def _drift_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "feature": d["feature"],
            "kind": d["kind"],
            "method": d["method"],
            "score": d["score"],
            "threshold": d["threshold"],
            "effect": effect_text(d.get("effect") or {}),
            "verdict": d.get("level", "drift" if d["drifted"] else "ok"),
            "_level": d.get("level"),
        }
        for d in summary["drift"]
    ]


def _feature_charts(summary: dict[str, Any], reference: pd.DataFrame, current: pd.DataFrame) -> str:
    from . import charts

    shown = [d for d in summary["drift"] if d.get("level") in ("drift", "watch")][:MAX_CHARTS]
    figures = []
    for d in shown:
        name = d["feature"]
        draw = charts.histogram if d["kind"] == "numeric" else charts.categories
        picture = draw(name, reference[name], current[name])
        if picture:
            caption = f"{d['level']}: {d['method']} {_fmt(d['score'])} · {effect_text(d.get('effect') or {})}"
            figures.append(f"<figure>{picture}<figcaption>{html.escape(caption)}</figcaption></figure>")
    if not figures:
        return "<p>No feature drifted or is on watch: nothing to draw.</p>"
    return f'<div class="charts">{"".join(figures)}</div>'


def _trend_charts(summary: dict[str, Any]) -> str:
    from . import charts

    trends = summary.get("trends") or []
    days = [t["day"] for t in trends]
    parts = [charts.per_day("Served rows per day", days, {"rows": [float(t["rows"]) for t in trends]}, bars=True)]
    if trends and "share" in trends[0]:
        classes = list(trends[0]["share"])
        parts.append(
            charts.per_day(
                "Share of each predicted class per day",
                days,
                {c: [t["share"].get(c) for t in trends] for c in classes},
                scale=(0.0, 1.0),
            )
        )
    elif trends:
        parts.append(charts.per_day("Mean prediction per day", days, {"mean": [t["mean_prediction"] for t in trends]}))
    labelled = [t for t in trends if t.get("live")]
    if labelled:
        names = [k for k, v in labelled[0]["live"].items() if k != "labelled_rows" and isinstance(v, int | float)]
        parts.append(
            charts.per_day(
                "Live metrics per day (labelled predictions)",
                days,
                {n: [(t.get("live") or {}).get(n) for t in trends] for n in names},
            )
        )
    else:
        parts.append("<p>No feedback labels in the window yet: live metrics appear here once they arrive.</p>")
    return f'<div class="charts">{"".join(p for p in parts if p)}</div>'


def _distinct(summary: dict[str, Any]) -> str:
    rows, distinct = summary["rows_with_features"], summary.get("distinct_rows", 0)
    text = f"{distinct} distinct row(s) among the {rows} with their features."
    if rows and distinct < REPEATS_DOMINATE * rows:
        return (
            f'<p class="warning">Repeats dominate: only {distinct} of {rows} rows are distinct. The drift tests '
            "assume independent rows, so repeated rows make small differences look significant: read the drift "
            "verdicts below with care.</p>"
        )
    return f"<p>{text}</p>"


def report_html(summary: dict[str, Any], reference_frame: pd.DataFrame, current: pd.DataFrame) -> str:
    """The page: the decision, then each drifted or watched feature drawn against training (strongest evidence
    first, with its effect size), every feature's verdict, quality, predictions, live metrics and trends by day."""
    decision = summary["decision"]
    live = [{"model_version": v} | m for v, m in summary["live_metrics_by_version"].items()]
    failures = [
        {
            "expectation": f["expectation"],
            "column": f["column"],
            "unexpected": f["unexpected_count"],
            "examples": f["examples"],
        }
        for f in summary["quality"]["failures"]
    ]
    pred = summary["prediction_drift"]
    watched = [d["feature"] for d in summary["drift"] if d.get("level") == "watch"]
    sections = [
        (
            f"<h1>Monitoring: {html.escape(summary['model_name'])} v{html.escape(summary['model_version'])} "
            f'<span class="{decision}">{decision.upper()}</span></h1>'
        ),
        (
            f"<p>Window {html.escape(summary['window']['from'])} to {html.escape(summary['window']['to'])}: "
            f"{summary['rows']} served row(s), {summary['rows_with_features']} with their features.</p>"
        ),
        _distinct(summary),
        "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in summary["reasons"]) + "</ul>",
        (
            f"<h2>Feature drift: {len(summary['drifted_features'])} of {summary['features']} drifted "
            f"({100 * summary['drift_share']:.0f}%), {len(watched)} on watch</h2>"
        ),
        (
            "<p>Strongest evidence first. <b>drift</b>: Evidently's test below its Bonferroni-corrected threshold "
            "(or a distance at its threshold): what alerts. <b>watch</b>: p below 0.05 uncorrected (or a distance "
            "at half its threshold): a near miss worth a look, never an alert. The effect says how large the "
            "change is: the mean's shift in training standard deviations and the ratio of spreads, or the largest "
            "change of a category's share.</p>"
        ),
        _feature_charts(summary, reference_frame, current),
        _table(_drift_rows(summary), level="_level"),
        (
            f"<h2>Data quality: {summary['quality']['met']}/{summary['quality']['evaluated']} expectations met "
            f"(suite {html.escape(summary['quality']['suite'])})</h2>"
        ),
        _table(failures),
        "<h2>Prediction drift (served vs the champion on its holdout)</h2>",
        _table([pred] if pred else []),
        (
            f"<h2>Live metrics (feedback joined; holdout {html.escape(summary['holdout_metric'])}: "
            f"{_fmt(summary['holdout_score'])})</h2>"
        ),
        _table(live),
        "<h2>Trends by day</h2>",
        _trend_charts(summary),
        "<h2>Volume by day, source and model version</h2>",
        _table(summary["volume"]),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Monitoring report</title>'
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )
