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


STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}.ok{color:#176f2c}.alert{color:#a15c00}.retrain{color:#b00020}.bad{background:#fde8e8}
h1 span{font-size:1rem;padding:.2rem .6rem;border-radius:.3rem;border:1px solid currentColor}"""


def _table(rows: list[dict[str, Any]], bad: str | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0] if k != bad)
    body = []
    for row in rows:
        cls = ' class="bad"' if bad and row.get(bad) else ""
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for k, v in row.items() if k != bad)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _bars(pairs: list[tuple[str, float, float]], width: int = 620) -> str:
    """A grouped horizontal bar chart (reference grey, served blue) as inline SVG."""
    if not pairs:
        return ""
    top = max(max(a, b) for _, a, b in pairs) or 1.0
    label_w, row_h = 170, 26
    parts = [f'<svg width="{width}" height="{row_h * len(pairs) + 10}" role="img">']
    for i, (label, a, b) in enumerate(pairs):
        y = 5 + i * row_h
        wa, wb = (width - label_w - 60) * a / top, (width - label_w - 60) * b / top
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(label[:24])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{wa:.1f}" height="10" fill="#9e9e9e"/>')
        parts.append(f'<rect x="{label_w}" y="{y + 11}" width="{wb:.1f}" height="10" fill="#1f6fb2"/>')
        parts.append(f'<text x="{label_w + max(wa, wb) + 4:.1f}" y="{y + 15}" font-size="11">{a:.3g} / {b:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_html(summary: dict[str, Any], reference_frame: pd.DataFrame, current: pd.DataFrame) -> str:
    decision = summary["decision"]
    drift_rows = [
        {
            "feature": d["feature"],
            "kind": d["kind"],
            "method": d["method"],
            "score": d["score"],
            "threshold": d["threshold"],
            "drifted": d["drifted"],
        }
        for d in summary["drift"]
    ]
    for row in drift_rows:
        row["_bad"] = row["drifted"]
    means = [
        (d["feature"], float(reference_frame[d["feature"]].mean()), float(current[d["feature"]].mean()))
        for d in summary["drift"]
        if d["kind"] == "numeric" and len(current)
    ]
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
    sections = [
        (
            f"<h1>Monitoring: {html.escape(summary['model_name'])} v{html.escape(summary['model_version'])} "
            f'<span class="{decision}">{decision.upper()}</span></h1>'
        ),
        (
            f"<p>Window {html.escape(summary['window']['from'])} to {html.escape(summary['window']['to'])}: "
            f"{summary['rows']} served row(s), {summary['rows_with_features']} with their features.</p>"
        ),
        "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in summary["reasons"]) + "</ul>",
        (
            f"<h2>Feature drift: {len(summary['drifted_features'])} of {summary['features']} "
            f"({100 * summary['drift_share']:.0f}%)</h2>"
        ),
        _table(drift_rows, bad="_bad"),
        "<h3>Means of the numeric features: training (grey) vs served (blue)</h3>",
        _bars(means),
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
        "<h2>Volume by day, source and model version</h2>",
        _table(summary["volume"]),
        _bars([(f"{r['day']} {r['source']} v{r['model_version']}", 0.0, float(r["rows"])) for r in summary["volume"]]),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Monitoring report</title>'
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )
