"""The analytics client: what the model sees in production, against what it was trained on.

``python -m <package> monitor --since 7d`` (``make monitor``) reads a window of the serving layer and writes
reports/monitoring/summary.json, reports/monitoring/report.html (offline: inline CSS and SVG, nothing fetched)
and an MLflow run in the `monitoring` experiment tagged with the champion's version:

- drift: each feature of the served inputs against the champion's own training data, found through its lineage
  tag (`data.train.md5` on the training run: the file DVC versions); numeric and categorical;
- quality: the Great Expectations suite that guarded training (validate.suite), on the served inputs (its
  expectations on the feature columns: the target and table-level ones do not apply to served rows);
- prediction drift: served predictions against the champion's predictions on the holdout;
- live metrics: the task's metrics on the predictions that got a trusted feedback label (a source that needed a
  credential, no conflicting label: predictions/queries.labelled), per model version;
- volume: rows by source (online/batch), model version and day;
- decision: ``retrain`` (live register.metric worse than the champion's holdout score by more than
  monitor.max_metric_drop), ``alert`` (drift share >= monitor.drift_share, a quality failure or prediction
  drift), else ``ok``; with fewer than monitor.min_rows served rows nothing is judged.

The parts: reference.py, drift.py (how drift is measured), quality.py, live.py (metrics, volume, decision),
report.py (markdown and HTML).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.config import Config
from ..core.schema import Schema
from ..predictions import database, queries
from ..tracking import runs
from ..training import features
from . import drift as drifts
from . import live, quality, report
from .reference import reference
from .window import parse_window

log = logging.getLogger(__name__)
EXPERIMENT = runs.MONITORING_EXPERIMENT  # the monitor user may write there (tracking/server.py)


def served_frame(inputs: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(inputs, columns=schema.names) if inputs else pd.DataFrame(columns=schema.names)
    return features.conform(frame, schema)


def run(
    cfg: Config, *, since: str = "7d", out: Path | str = "reports/monitoring", until: datetime | None = None
) -> dict[str, Any]:
    out = Path(out)
    until = until or database.now()
    start = until - parse_window(since)
    ref = reference(cfg)
    engine = database.connect(cfg.serving.resolved_db_url)

    served = queries.window_predictions(engine, start, until)
    current = served_frame(queries.window_inputs(engine, start, until, cfg.monitor.max_rows), ref.schema)
    drift, share = (
        drifts.data_drift(ref.train, current, ref.schema, cfg.monitor.drift_share) if len(current) else ([], 0.0)
    )
    drifted = [d.feature for d in drift if d.drifted]
    quality_ = (
        quality.quality(current, cfg.validate_.suite)
        if len(current)
        else {"suite": cfg.validate_.suite, "success": True, "met": 0, "evaluated": 0, "failures": []}
    )
    by_version = live.live_metrics(queries.labelled(engine, start, until), ref.schema)
    prediction = drifts.prediction_drift(ref, [p for _, _, p in served])
    summary: dict[str, Any] = {
        "window": {"from": start.isoformat(), "to": until.isoformat(), "since": since},
        "rows": len(served),
        "rows_with_features": len(current),
        "model_name": ref.model_name,
        "model_version": ref.version,
        "features": len(ref.schema.features),
        "drifted_features": drifted,
        "drift_share": round(share, 4),
        "dataset_drift": bool(drift) and share >= cfg.monitor.drift_share,
        "drift": [d.__dict__ for d in drift],
        "quality": quality_,
        "prediction_drift": prediction.__dict__ if prediction else None,
        "holdout_metric": cfg.register_.metric,
        "holdout_score": ref.holdout_score,
        "live_metrics": by_version.get(ref.version, {"labelled_rows": 0}),
        "live_metrics_by_version": by_version,
        "volume": live.volume(queries.window_requests(engine, start, until)),
        "sources": dict(Counter(source for source, _, _ in served)),
        "labels": queries.label_counts(engine, start, until),  # live metrics use the trusted ones only
    }
    summary["decision"], summary["reasons"] = live.decide(summary, cfg)
    if cfg.monitor.retention_days:
        summary["pruned_rows"] = queries.prune(engine, until - timedelta(days=cfg.monitor.retention_days))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(_clean(summary), indent=2, default=str) + "\n")
    (out / "report.html").write_text(report.report_html(summary, ref.train, current))
    (out / "summary.md").write_text(report.markdown(summary))
    log_run(cfg, summary, out)
    log.info("monitoring %s: %s", since, summary["decision"])
    return summary


def _clean(value: Any) -> Any:
    """JSON without NaN (not valid JSON): null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def log_run(cfg: Config, summary: dict[str, Any], out: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(cfg.tracking.resolved_uri)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"monitor {summary['window']['since']}"):
        mlflow.set_tags(
            {
                "model_name": summary["model_name"],
                "model_version": summary["model_version"],
                "decision": summary["decision"],
                "window.from": summary["window"]["from"],
                "window.to": summary["window"]["to"],
            }
        )
        values = {
            "rows": summary["rows"],
            "drift_share": summary["drift_share"],
            "drifted_features": len(summary["drifted_features"]),
            "quality_met": summary["quality"]["met"],
            "quality_evaluated": summary["quality"]["evaluated"],
        } | {f"live_{k}": v for k, v in summary["live_metrics"].items() if isinstance(v, int | float)}
        mlflow.log_metrics({k: float(v) for k, v in values.items()})
        mlflow.log_artifact(str(out / "summary.json"))
        mlflow.log_artifact(str(out / "report.html"))
