"""Drift of served data against the reference, one column at a time, by Evidently's DataDriftPreset.

Drift (Evidently's DataDriftPreset, docs/monitoring.md): Evidently picks each column's method. With a reference
of at most 1000 rows, a test: two-sample Kolmogorov-Smirnov (numeric), chi-square (categorical; a Z-test for two
categories), drifted when p < 0.05 divided by the number of features (Bonferroni: a window of undrifted traffic
raises a false alarm on 5% of runs, not on 5% of features); with a larger reference, where any test rejects tiny
shifts, a distance: Wasserstein normed by the reference's standard deviation (numeric), Jensen-Shannon
(categorical), drifted at >= 0.1 (Evidently's default). The share of drifted features is Evidently's
DriftedColumnsCount; `dataset_drift` when it reaches monitor.drift_share.

Bonferroni keeps false alarms rare and costs sensitivity (measured, issue 25: a 0.2 sd shift at 200 rows is caught
in 34% of windows, 77% uncorrected). So each feature also gets a level for people (``level``): ``drift``
(Evidently's corrected verdict, what alerts), ``watch`` (p below 0.05 uncorrected, or a distance at half its
threshold: worth a look, never an alert; with 30 undrifted features about 1.5 of them are on watch by chance) or
``ok``; and an effect size (``effect``) that says how large the change is, whatever the p-value: the mean's shift
in reference standard deviations and the ratio of spreads (numeric), the largest change of a category's share
(categorical). Holm's procedure would give the same false-alarm guarantee with a little more power, but decide
differently from Evidently's verdicts, which the report shows; the watch level shows the near misses instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..core import metrics
from ..core.schema import Schema
from ..training import features
from .reference import Reference

SMALL_REFERENCE = 1000  # reference rows: Evidently tests up to this, measures distances beyond
ALPHA = 0.05  # family-wise, Bonferroni-corrected over the features (the tests' threshold)


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


DRIFT, WATCH, OK = "drift", "watch", "ok"


def level(found: Drift) -> str:
    """drift (Evidently's verdict), watch (a near miss: p < ALPHA uncorrected, or a distance >= half its threshold)
    or ok."""
    if found.drifted:
        return DRIFT
    if math.isnan(found.score):
        return OK
    if found.method.endswith("p_value"):
        return WATCH if found.score < ALPHA else OK
    return WATCH if found.score >= found.threshold / 2 else OK


def evidence(found: Drift) -> float:
    """A sort key, strongest evidence first: p-values ascending, distances by their share of the threshold."""
    if math.isnan(found.score):
        return math.inf
    return found.score if found.method.endswith("p_value") else -found.score / found.threshold


def effect(reference: pd.Series, current: pd.Series, kind: str) -> dict[str, Any]:
    """How large the change is. Numeric: ``mean_shift_sd`` (current mean - reference mean, in reference standard
    deviations) and ``spread_ratio`` (current sd / reference sd). Categorical: ``share_change`` (the largest
    change of one category's share, in points of 1) and ``category`` (which one)."""
    reference, current = reference.dropna(), current.dropna()
    if reference.empty or current.empty:
        return {}
    if kind == "numeric":
        ref, cur = reference.astype(float), current.astype(float)
        sd = float(ref.std(ddof=0))
        shift = (float(cur.mean()) - float(ref.mean())) / sd if sd > 0 else math.nan
        ratio = float(cur.std(ddof=0)) / sd if sd > 0 else math.nan
        return {"mean_shift_sd": round(shift, 3), "spread_ratio": round(ratio, 3)}
    before = reference.astype(str).value_counts(normalize=True)
    after = current.astype(str).value_counts(normalize=True)
    change = after.reindex(before.index.union(after.index), fill_value=0) - before.reindex(
        before.index.union(after.index), fill_value=0
    )
    category = str(change.abs().idxmax())
    return {"share_change": round(float(change[category]), 3), "category": category}


def column_drift(name: str, kind: str, reference: pd.Series, current: pd.Series, tests: int = 1) -> Drift:
    """One column's drift (drift_report on it alone); ``tests`` features are judged together (Bonferroni)."""
    frames = [pd.DataFrame({name: series.reset_index(drop=True)}) for series in (reference, current)]
    return drift_report(frames[0], frames[1], {name: kind}, tests=tests)[0][0]


def data_drift(
    reference: pd.DataFrame, current: pd.DataFrame, schema: Schema, drift_share: float = 0.5
) -> tuple[list[Drift], float]:
    """Every feature's drift but a date's: time moves on, so served dates always differ from training's."""
    kinds: dict[str, str] = {f.name: f.kind for f in schema.features if f.kind != "datetime"}
    return drift_report(reference, current, kinds, drift_share)


def prediction_drift(ref: Reference, served: list[Any]) -> Drift | None:
    if not served or ref.holdout.empty:
        return None
    holdout = features.conform(ref.holdout, ref.schema)
    expected = ref.model.predict(holdout)
    kind = metrics.TASKS[ref.schema.task].prediction_kind
    return column_drift("prediction", kind, pd.Series(list(expected), dtype=object), pd.Series(served, dtype=object))
