"""The analytics client: what the model sees in production, against what it was trained on.

``python -m <package> monitor --since 7d`` (``make monitor``) reads a window of the serving layer and writes
reports/monitoring/summary.json, reports/monitoring/report.html (offline: inline CSS and SVG, nothing fetched)
and an MLflow run in the `monitoring` experiment tagged with the champion's version:

- drift: each feature of the served inputs against the champion's own training data, found through its lineage
  tag (`data.train.md5` on the training run: the file DVC versions); numeric and categorical;
- quality: the Great Expectations suite that guarded training (validate.suite), on the served inputs (its
  expectations on the feature columns: the target and table-level ones do not apply to served rows);
- prediction drift: served predictions against the champion's predictions on the holdout;
- live metrics: the task's metrics on the predictions that got a feedback label, per model version;
- volume: rows by source (online/batch), model version and day;
- decision: ``retrain`` (live register.metric worse than the champion's holdout score by more than
  monitor.max_metric_drop), ``alert`` (drift share >= monitor.drift_share, a quality failure or prediction
  drift), else ``ok``; with fewer than monitor.min_rows served rows nothing is judged.

Drift (Evidently's DataDriftPreset, docs/monitoring.md): Evidently picks each column's method. With a reference
of at most 1000 rows, a test: two-sample Kolmogorov-Smirnov (numeric), chi-square (categorical; a Z-test for two
categories), drifted when p < 0.05 divided by the number of features (Bonferroni: a window of undrifted traffic
raises a false alarm on 5% of runs, not on 5% of features); with a larger reference, where any test rejects tiny
shifts, a distance: Wasserstein normed by the reference's standard deviation (numeric), Jensen-Shannon
(categorical), drifted at >= 0.1 (Evidently's default). The share of drifted features is Evidently's
DriftedColumnsCount; `dataset_drift` when it reaches monitor.drift_share.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import features, metrics, tables, tracking
from .config import Config, UserError
from .serving import database, queries
from .stages import validate

log = logging.getLogger(__name__)
EXPERIMENT = "monitoring"
DVC_CACHE = Path(".dvc/cache/files/md5")
SMALL_REFERENCE = 1000  # reference rows: Evidently tests up to this, measures distances beyond
ALPHA = 0.05  # family-wise, Bonferroni-corrected over the features (the tests' threshold)
WINDOW = re.compile(r"^([1-9][0-9]*)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """'30m', '12h', '7d' -> a timedelta."""
    match = WINDOW.match(str(text).strip())
    if match is None:
        raise UserError(f"window {text!r} is not <n>m, <n>h or <n>d (e.g. 7d)")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


# --- the reference: the champion, its training data and its holdout -------------------------------------------------


@dataclass(frozen=True)
class Reference:
    model_name: str
    version: str
    model: Any
    schema: features.Schema
    train: pd.DataFrame  # the training rows, the features conformed to the schema
    holdout: pd.DataFrame  # the holdout with its target
    holdout_score: float | None  # register.metric of this version on its holdout (the gate's number)


def find_data(path: Path, md5: str | None, what: str) -> Path:
    """The file whose content hash is ``md5``: the work tree's copy, or DVC's cache."""
    if md5 is None:
        if path.exists():
            return path
        raise UserError(f"{path} not found: run `dvc pull` (or make pipeline) to get the {what}")
    if path.exists() and tables.file_md5(path) == md5:
        return path
    cached = DVC_CACHE / md5[:2] / md5[2:]
    if cached.exists():
        return cached
    raise UserError(
        f"the {what} (md5 {md5}, lineage tag of the champion's training run) is neither {path} nor in the DVC "
        f"cache: check out the champion's commit and run `dvc pull`"
    )


def _lineage(client: Any, run_id: str) -> dict[str, str]:
    """The training run's tags (the parent run's, when the model was logged by a child run)."""
    tags = dict(client.get_run(run_id).data.tags) if run_id else {}
    parent = tags.get("mlflow.parentRunId")
    if "data.train.md5" not in tags and parent:
        tags = dict(client.get_run(parent).data.tags) | tags
    return tags


def reference(cfg: Config) -> Reference:
    import mlflow

    uri = cfg.tracking.resolved_uri
    mlflow.set_tracking_uri(uri)
    client = tracking.client(uri)
    name = cfg.tracking.model_name
    version = tracking.version_by_alias(client, name, tracking.CHAMPION)
    if version is None:
        raise UserError(
            f"no `{tracking.CHAMPION}` in the registry for {name!r}: run the pipeline first (make pipeline)"
        )
    tags = _lineage(client, version.run_id or "")
    model_uri = f"models:/{name}/{version.version}"
    model = mlflow.sklearn.load_model(model_uri)
    schema = tracking.version_schema(version, model_uri, model)
    train = pd.read_parquet(find_data(cfg.paths.train, tags.get("data.train.md5"), "champion's training data"))
    holdout = pd.read_parquet(find_data(cfg.paths.holdout, None, "holdout"))
    score = version.tags.get(f"holdout.{cfg.register_.metric}")
    return Reference(
        model_name=name,
        version=str(version.version),
        model=model,
        schema=schema,
        train=features.conform(train, schema),
        holdout=holdout,
        holdout_score=float(score) if score is not None else None,
    )


# --- drift ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    feature: str
    kind: str
    method: str  # Evidently's name of the test or distance it chose for the column
    score: float  # a p-value for tests (drift when below the threshold), a distance otherwise (drift when at or above)
    threshold: float
    drifted: bool  # Evidently's verdict
    reference_rows: int
    current_rows: int


def _evidently() -> tuple[Any, Any]:
    """Evidently (its module and DataDriftPreset), imported on first use: seconds of plotly, litestar and statsmodels
    that no other command pays. Its telemetry is off (environment.QUIET; a Report sends nothing, only its UI does).

    Evidently 0.7.23 imports ``pandas.core.dtypes.common.infer_dtype_from_object``, a private helper pandas 3
    removed, in a legacy test (TestColumnsType) that nothing here runs; without the name the import fails. It is
    provided, raising if it is ever called, until Evidently drops that import."""
    import pandas.core.dtypes.common as dtypes

    if not hasattr(dtypes, "infer_dtype_from_object"):

        def removed(_: object) -> Any:
            raise NotImplementedError("pandas 3 removed infer_dtype_from_object (Evidently's legacy TestColumnsType)")

        dtypes.infer_dtype_from_object = removed  # type: ignore[attr-defined]
    import evidently
    from evidently.presets import DataDriftPreset

    return evidently, DataDriftPreset


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    drift_share: float = 0.5,
    tests: int | None = None,
) -> tuple[list[Drift], float]:
    """Each column's drift by Evidently's DataDriftPreset, with its default method per column (see the module's
    docstring) and the Bonferroni-corrected threshold for tests (``tests`` columns judged together, by default
    all of them); and the share of drifted columns (Evidently's DriftedColumnsCount, over the columns with values
    on both sides). ``kinds``: column -> numeric | categorical."""
    drifts: dict[str, Drift] = {}
    usable: list[str] = []
    for name, kind in kinds.items():
        ref_rows, cur_rows = int(reference[name].notna().sum()), int(current[name].notna().sum())
        if ref_rows == 0 or cur_rows == 0:
            drifts[name] = Drift(name, kind, "no values", math.nan, math.nan, False, ref_rows, cur_rows)
        else:
            usable.append(name)
    share = 0.0
    if usable:
        evidently, DataDriftPreset = _evidently()
        numeric = [n for n in usable if kinds[n] == "numeric"]
        categorical = [n for n in usable if kinds[n] != "numeric"]
        definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=categorical)

        def dataset(frame: pd.DataFrame) -> Any:
            data = frame[usable].copy()
            data[numeric] = data[numeric].astype(float)
            data[categorical] = data[categorical].astype(object).where(data[categorical].notna(), None)
            return evidently.Dataset.from_pandas(data, data_definition=definition)

        # tests (small references) get alpha / number of features; distances keep Evidently's default (0.1)
        alpha = ALPHA / (tests or len(kinds))
        thresholds = {n: alpha for n in usable if reference[n].notna().sum() <= SMALL_REFERENCE}
        preset = DataDriftPreset(columns=usable, drift_share=drift_share, per_column_threshold=thresholds or None)
        found = evidently.Report([preset], include_tests=True).run(dataset(current), dataset(reference)).dict()
        verdicts = {
            t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
            for t in found["tests"]
            if t["metric_config"]["params"].get("type", "").endswith(":ValueDrift")
        }
        for metric in found["metrics"]:
            config_ = metric["config"]
            if config_["type"].endswith(":DriftedColumnsCount"):
                share = float(metric["value"]["share"])
            elif config_["type"].endswith(":ValueDrift"):
                name = config_["column"]
                drifts[name] = Drift(
                    name,
                    kinds[name],
                    str(config_["method"]),
                    float(metric["value"]),
                    float(config_["threshold"]),
                    verdicts[name],
                    int(reference[name].notna().sum()),
                    int(current[name].notna().sum()),
                )
    return [drifts[name] for name in kinds], share


def column_drift(name: str, kind: str, reference: pd.Series, current: pd.Series, tests: int = 1) -> Drift:
    """One column's drift (drift_report on it alone); ``tests`` features are judged together (Bonferroni)."""
    frames = [pd.DataFrame({name: series.reset_index(drop=True)}) for series in (reference, current)]
    return drift_report(frames[0], frames[1], {name: kind}, tests=tests)[0][0]


def data_drift(
    reference: pd.DataFrame, current: pd.DataFrame, schema: features.Schema, drift_share: float = 0.5
) -> tuple[list[Drift], float]:
    return drift_report(reference, current, {f.name: f.kind for f in schema.features}, drift_share)


# --- quality -------------------------------------------------------------------------------------------------------


def served_suite(suite: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    """The suite's expectations that apply to served rows: those on one of the feature columns."""
    return [e for e in suite["expectations"] if e.get("kwargs", {}).get("column") in columns]


def quality(frame: pd.DataFrame, suite_name: str, root: Path = Path()) -> dict[str, Any]:
    """The training suite's feature expectations on the served inputs, in an in-memory GX context (gx/ untouched)."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    path = validate.suite_path(suite_name, root)
    if not path.exists():
        raise UserError(f"{path} not found: monitoring runs the training suite (validate.suite) on served data")
    expectations = served_suite(json.loads(path.read_text()), list(frame.columns))
    context = gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(
        name=f"{suite_name}-served",
        expectations=[
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]).to_domain_obj() for e in expectations
        ],
    )
    asset = context.data_sources.add_pandas("served").add_dataframe_asset("served")
    batch = asset.add_batch_definition_whole_dataframe("window").get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    summary = validate.summarize(result.to_json_dict())
    stats_ = summary["statistics"]
    return {
        "suite": suite_name,
        "success": summary["success"],
        "met": int(stats_["successful_expectations"]),
        "evaluated": int(stats_["evaluated_expectations"]),
        "failures": summary["failures"],
    }


# --- live metrics --------------------------------------------------------------------------------------------------


def live_metrics(rows: list[dict[str, Any]], schema: features.Schema) -> dict[str, dict[str, float]]:
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
                values |= metrics.classification(y, proba, classes)
            # batch rows keep no probabilities: the accuracy of hard predictions is what every row has
            values["accuracy"] = float(np.mean(predicted == y))
        found[version] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}
    return found


# --- the run -------------------------------------------------------------------------------------------------------


def served_frame(inputs: list[dict[str, Any]], schema: features.Schema) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(inputs, columns=schema.names) if inputs else pd.DataFrame(columns=schema.names)
    return features.conform(frame, schema)


def prediction_drift(ref: Reference, served: list[Any]) -> Drift | None:
    if not served or ref.holdout.empty:
        return None
    holdout = features.conform(ref.holdout, ref.schema)
    expected = ref.model.predict(holdout)
    kind = metrics.TASKS[ref.schema.task].prediction_kind
    return column_drift("prediction", kind, pd.Series(list(expected), dtype=object), pd.Series(served, dtype=object))


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
    drift, share = data_drift(ref.train, current, ref.schema, cfg.monitor.drift_share) if len(current) else ([], 0.0)
    drifted = [d.feature for d in drift if d.drifted]
    quality_ = (
        quality(current, cfg.validate_.suite)
        if len(current)
        else {"suite": cfg.validate_.suite, "success": True, "met": 0, "evaluated": 0, "failures": []}
    )
    by_version = live_metrics(queries.labelled(engine, start, until), ref.schema)
    prediction = prediction_drift(ref, [p for _, _, p in served])
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
        "volume": volume(queries.window_requests(engine, start, until)),
        "sources": dict(Counter(source for source, _, _ in served)),
    }
    summary["decision"], summary["reasons"] = decide(summary, cfg)
    if cfg.monitor.retention_days:
        summary["pruned_rows"] = queries.prune(engine, until - timedelta(days=cfg.monitor.retention_days))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(_clean(summary), indent=2, default=str) + "\n")
    (out / "report.html").write_text(report_html(summary, ref.train, current))
    (out / "summary.md").write_text(markdown(summary))
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


# --- the page ------------------------------------------------------------------------------------------------------

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
