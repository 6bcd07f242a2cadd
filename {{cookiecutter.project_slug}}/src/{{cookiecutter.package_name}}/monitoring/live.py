"""What served data says about the model: its live metrics on labelled predictions, the volume, and the decision
(``retrain``, ``alert`` or ``ok``) by the policy of params.yaml's ``monitor`` section."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core import metrics
from ..core.config import Config
from ..core.schema import Schema


def live_metrics(rows: list[dict[str, Any]], schema: Schema) -> dict[str, dict[str, float]]:
    """model version -> the task's metrics on its labelled predictions, with `labelled_rows`."""
    by_version: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_version.setdefault(str(row["model_version"]), []).append(row)
    found = {}
    for version, group in sorted(by_version.items()):
        y = np.asarray([r["label"] for r in group])  # numbers or text, as the classes are (sklearn needs one type)
        predicted = np.asarray([r["prediction"] for r in group])
        values: dict[str, float] = {"labelled_rows": len(group)}
        if not metrics.TASKS[schema.task].has_classes:
            values |= metrics.regression(y.astype(float), predicted.astype(float))
        else:
            classes = np.asarray(list(schema.classes))
            with_probabilities = all(r["probabilities"] for r in group)
            if with_probabilities and len(set(y.tolist())) > 1 and set(y.tolist()) <= set(classes.tolist()):
                proba = np.asarray([[r["probabilities"][str(c)] for c in classes] for r in group], dtype=float)
                # the labels as served (the champion's threshold applied), the positive class as it was trained
                values |= metrics.classification(y, proba, classes, positive=schema.positive_class, predicted=predicted)
            # rows stored before probabilities were (batch rows of older versions): the accuracy every row has
            values["accuracy"] = float(np.mean(predicted == y))
        found[version] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}
    return found


def decide(summary: dict[str, Any], cfg: Config) -> tuple[str, list[str]]:
    policy = cfg.monitor
    if summary["rows"] < policy.min_rows:
        return "ok", [
            f"{summary['rows']} served row(s) in the window, fewer than monitor.min_rows ({policy.min_rows}): not judged"
        ]
    reasons, decision = [], "ok"
    metric, holdout = cfg.register_.metric, summary["holdout_score"]
    live = summary["live_metrics"]
    if live.get("labelled_rows", 0) >= policy.min_labelled and metric in live and holdout is not None:
        drop = holdout - live[metric] if cfg.greater_is_better else live[metric] - holdout
        if drop > policy.max_metric_drop:
            decision = "retrain"
            reasons.append(
                f"live {metric} {live[metric]:.4f} on {live['labelled_rows']} labelled row(s) is {drop:.4f} worse than "
                f"the champion's holdout {holdout:.4f} (monitor.max_metric_drop: {policy.max_metric_drop})"
            )
    alerts = []
    if summary["dataset_drift"]:
        alerts.append(
            f"{len(summary['drifted_features'])} of {summary['features']} feature(s) drifted "
            f"({100 * summary['drift_share']:.0f}% >= monitor.drift_share {100 * policy.drift_share:.0f}%): "
            + ", ".join(summary["drifted_features"])
        )
    quality_ = summary["quality"]
    if quality_["evaluated"] and quality_["met"] < quality_["evaluated"]:
        failed = sorted({f["column"] or "table" for f in quality_["failures"]})
        alerts.append(
            f"data quality: {quality_['met']}/{quality_['evaluated']} expectations met (failing on {', '.join(failed)})"
        )
    if summary["prediction_drift"] and summary["prediction_drift"]["drifted"]:
        alerts.append(
            f"prediction drift ({summary['prediction_drift']['method']} {summary['prediction_drift']['score']:.4g})"
        )
    if alerts and decision == "ok":
        decision = "alert"
    return decision, reasons + alerts or ["no drift, quality met, live metrics within the policy"]


def volume(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows by day, source and model version."""
    if not requests:
        return []
    frame = pd.DataFrame(requests)
    frame["day"] = pd.to_datetime(frame["created_at"], utc=True).dt.strftime("%Y-%m-%d")
    grouped = frame.groupby(["day", "source", "model_version"], as_index=False).agg(
        rows=("row_count", "sum"), requests=("request_id", "count")
    )
    return [
        {str(k): (int(v) if isinstance(v, np.integer) else v) for k, v in row.items()}
        for row in grouped.to_dict("records")
    ]


def _day(value: Any) -> str:
    """The UTC day of a timestamp (SQLite hands them back without a time zone: they are UTC)."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).strftime("%Y-%m-%d")


def trends(served: list[tuple[Any, ...]], labelled: list[dict[str, Any]], schema: Schema) -> list[dict[str, Any]]:
    """One row per day of the window: served rows, the share of each class predicted (classification) or the
    mean prediction (regression), and the live metrics of that day's labelled predictions once labels arrive."""
    has_classes = metrics.TASKS[schema.task].has_classes
    days: dict[str, list[Any]] = {}
    for _, _, prediction, created in served:
        days.setdefault(_day(created), []).append(prediction)
    labels_by_day: dict[str, list[dict[str, Any]]] = {}
    for label in labelled:
        labels_by_day.setdefault(_day(label["created_at"]), []).append(label | {"model_version": "day"})
    found = []
    for day in sorted(days):
        predictions = days[day]
        row: dict[str, Any] = {"day": day, "rows": len(predictions)}
        if has_classes:
            counts = pd.Series([str(p) for p in predictions]).value_counts(normalize=True)
            row["share"] = {str(c): round(float(counts.get(str(c), 0.0)), 4) for c in schema.classes}
        else:
            row["mean_prediction"] = round(float(np.mean(np.asarray(predictions, dtype=float))), 6)
        if day in labels_by_day:
            row["live"] = live_metrics(labels_by_day[day], schema)["day"]
        found.append(row)
    return found
