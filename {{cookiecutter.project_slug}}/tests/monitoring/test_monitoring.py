"""Monitoring's parts without a server: the window, the drift tests, the served suite, the policy, the decision."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.monitoring import drift, live, quality, window

from ..helpers import PROJECT

PARAMS = PROJECT / "params.yaml"


def test_windows_are_minutes_hours_or_days() -> None:
    assert window.parse_window("7d") == timedelta(days=7)
    assert window.parse_window("90m") == timedelta(minutes=90)
    with pytest.raises(config.UserError, match="'7 days'"):
        window.parse_window("7 days")


def test_a_two_sd_shift_drifts_and_the_same_distribution_does_not() -> None:
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.normal(10, 2, 400))
    same = drift.column_drift("x", "numeric", reference, pd.Series(rng.normal(10, 2, 60)), tests=5)
    shifted = drift.column_drift("x", "numeric", reference, pd.Series(rng.normal(14, 2, 60)), tests=5)
    assert (same.method, same.drifted, shifted.drifted) == ("K-S p_value", False, True)  # Evidently's names
    assert same.threshold == pytest.approx(0.01)  # Bonferroni over five features
    assert shifted.score < 0.01 < same.score


def test_a_changed_mix_of_categories_drifts() -> None:
    reference = pd.Series(["a"] * 300 + ["b"] * 100)
    same = drift.column_drift("c", "categorical", reference, pd.Series(["a"] * 45 + ["b"] * 15))
    assert (same.method, same.drifted) == ("Z-test p_value", False)  # two categories: Evidently's Z-test
    assert drift.column_drift("c", "categorical", reference, pd.Series(["a"] * 10 + ["b"] * 50)).drifted
    three = pd.Series(["a"] * 200 + ["b"] * 100 + ["c"] * 100)
    mixed = drift.column_drift("c", "categorical", three, pd.Series(["c"] * 40 + ["a"] * 10 + ["b"] * 10))
    assert (mixed.method, mixed.drifted) == ("chi-square p_value", True)


def test_large_references_use_distances_not_tests() -> None:
    rng = np.random.default_rng(2)
    reference = pd.Series(rng.normal(0, 1, 5000))
    tiny = drift.column_drift("x", "numeric", reference, pd.Series(rng.normal(0.03, 1, 50_000)))
    big = drift.column_drift("x", "numeric", reference, pd.Series(rng.normal(0.5, 1, 50_000)))
    assert (tiny.method, tiny.drifted, big.drifted) == ("Wasserstein distance (normed)", False, True)
    assert tiny.threshold == big.threshold == pytest.approx(0.1)  # Evidently's default for distances
    letters = pd.Series(list("aab") * 2000)
    js = drift.column_drift("c", "categorical", letters, pd.Series(list("abb") * 2000))
    assert (js.method, js.drifted) == ("Jensen-Shannon distance", True)


def test_the_share_of_drifted_features_and_a_feature_without_served_values() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"a": rng.normal(0, 1, 300), "b": rng.normal(0, 1, 300), "c": rng.choice(["x", "y", "z"], 300)}
    )
    current = pd.DataFrame({"a": rng.normal(3, 1, 80), "b": np.nan, "c": rng.choice(["x", "y", "z"], 80)})
    found, share = drift.drift_report(reference, current, {"a": "numeric", "b": "numeric", "c": "categorical"})
    assert [(d.feature, d.drifted) for d in found] == [("a", True), ("b", False), ("c", False)]
    assert (found[1].method, found[1].current_rows) == ("no values", 0)  # nothing to compare: not judged
    assert share == pytest.approx(0.5)  # Evidently's DriftedColumnsCount: one of the two columns with values
    assert [d.threshold for d in found if d.feature != "b"] == pytest.approx([0.05 / 3] * 2)  # Bonferroni


def test_evidently_is_imported_by_monitor_only() -> None:
    """Evidently takes seconds to import: the other commands (harvest imports monitoring) never load it."""
    import subprocess
    import sys

    package = drift.__name__.split(".")[0]
    code = f"import sys, {package}.__main__, {package}.monitoring, {package}.monitoring.harvest; print('evidently' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_evidently_telemetry_is_off_in_every_command() -> None:
    from {{ cookiecutter.package_name }}.core import environment

    assert environment.QUIET["EVIDENTLY_DISABLE_TELEMETRY"] == "1" and environment.QUIET["DO_NOT_TRACK"] == "1"


def test_the_served_suite_keeps_the_feature_expectations_only() -> None:
    suite = {
        "expectations": [
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["a", "y"]}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "y", "value_set": [0, 1]}},
        ]
    }
    assert [e["kwargs"]["column"] for e in quality.served_suite(suite, ["a"])] == ["a"]


def test_a_misspelt_policy_key_is_an_error_naming_it() -> None:
    params = yaml.safe_load(PARAMS.read_text())
    params["monitor"]["drift_shares"] = 0.5
    params["monitor"]["min_rows"] = 0
    with pytest.raises(config.ConfigError) as error:
        config.parse(params)
    assert "monitor.drift_shares: unknown key" in str(error.value)
    assert "monitor.min_rows" in str(error.value)


def summary(**changes) -> dict:
    base = {
        "rows": 500,
        "features": 4,
        "drifted_features": [],
        "drift_share": 0.0,
        "dataset_drift": False,
        "quality": {"met": 8, "evaluated": 8, "failures": []},
        "prediction_drift": None,
        "holdout_score": 0.9,
        "live_metrics": {"labelled_rows": 0},
    }
    return base | changes


@pytest.fixture
def cfg() -> config.Config:
    return config.load(PARAMS)


def test_the_decision_follows_the_policy(cfg: config.Config) -> None:
    metric = cfg.register_.metric
    worse = 0.9 - 2 * cfg.monitor.max_metric_drop if cfg.greater_is_better else 0.9 + 2 * cfg.monitor.max_metric_drop
    labelled = {"labelled_rows": cfg.monitor.min_labelled, metric: worse}
    assert live.decide(summary(), cfg)[0] == "ok"
    assert live.decide(summary(rows=cfg.monitor.min_rows - 1, dataset_drift=True), cfg)[0] == "ok"
    drifted = summary(drifted_features=["a", "b"], drift_share=0.5, dataset_drift=True)
    decision, reasons = live.decide(drifted, cfg)
    assert decision == "alert" and "a, b" in reasons[0]
    assert live.decide(summary(live_metrics=labelled, dataset_drift=True, drifted_features=["a"]), cfg)[0] == (
        "retrain"
    )
    few = labelled | {"labelled_rows": cfg.monitor.min_labelled - 1}
    assert live.decide(summary(live_metrics=few), cfg)[0] == "ok"  # too few labels to judge


@pytest.mark.parametrize("classes", [(0, 1), ("no", "yes")])
def test_live_metrics_per_version_for_number_and_text_classes(classes) -> None:

    schema = Schema(target="t", task="classification", features=(), classes=classes)
    no, yes = classes
    rows = [  # v2 is right on every row; v1 on half of them (and has no probabilities: a batch)
        {
            "model_version": "2",
            "label": [no, yes][i % 2],
            "prediction": [no, yes][i % 2],
            "probabilities": {str(no): 1.0 - i % 2, str(yes): float(i % 2)},
        }
        for i in range(10)
    ] + [{"model_version": "1", "label": yes, "prediction": [no, yes][i % 2], "probabilities": None} for i in range(4)]
    found = live.live_metrics(rows, schema)
    assert found["2"]["labelled_rows"] == 10 and found["2"]["roc_auc"] == 1.0 and found["2"]["accuracy"] == 1.0
    assert found["1"] == {"labelled_rows": 4, "accuracy": 0.5}


def test_effect_sizes_say_how_large_a_change_is() -> None:
    rng = np.random.default_rng(3)
    reference = pd.Series(rng.normal(10, 2, 4000))
    shifted = drift.effect(reference, pd.Series(rng.normal(14, 2, 4000)), "numeric")
    wider = drift.effect(reference, pd.Series(rng.normal(10, 3, 4000)), "numeric")
    assert shifted["mean_shift_sd"] == pytest.approx(2.0, abs=0.1) and shifted["spread_ratio"] == pytest.approx(
        1, abs=0.05
    )
    assert wider["mean_shift_sd"] == pytest.approx(0, abs=0.1) and wider["spread_ratio"] == pytest.approx(1.5, abs=0.05)
    mix = drift.effect(
        pd.Series(["a"] * 80 + ["b"] * 20), pd.Series(["a"] * 45 + ["b"] * 35 + ["c"] * 20), "categorical"
    )
    assert mix == {"share_change": pytest.approx(-0.35), "category": "a"}  # the largest change, new categories too


def test_a_near_miss_is_on_watch_and_the_strongest_evidence_comes_first() -> None:
    rng = np.random.default_rng(4)
    reference = pd.Series(rng.normal(0, 1, 400))
    strong = drift.column_drift("a", "numeric", reference, pd.Series(rng.normal(1.5, 1, 200)), tests=30)
    near = drift.column_drift("b", "numeric", reference, pd.Series(rng.normal(0.25, 1, 200)), tests=30)
    same = drift.column_drift("c", "numeric", reference, pd.Series(rng.normal(0, 1, 200)), tests=30)
    assert strong.drifted and not near.drifted and near.score < drift.ALPHA <= same.score
    assert [drift.level(d) for d in (strong, near, same)] == ["drift", "watch", "ok"]
    assert sorted([same, near, strong], key=drift.evidence) == [strong, near, same]


def test_the_report_draws_each_drifted_and_watched_feature_and_warns_when_repeats_dominate() -> None:
    from {{ cookiecutter.package_name }}.monitoring import report

    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 400), "b": rng.normal(0, 1, 400), "c": rng.normal(0, 1, 400)})
    current = pd.DataFrame({"a": rng.normal(2, 1, 40), "b": rng.normal(0.4, 1, 40), "c": rng.normal(0, 1, 40)})
    current = pd.concat([current] * 5, ignore_index=True)  # 200 rows, 40 distinct
    found, share = drift.drift_report(reference, current, dict.fromkeys("abc", "numeric"))
    rows = [
        d.__dict__
        | {"level": drift.level(d), "effect": drift.effect(reference[d.feature], current[d.feature], "numeric")}
        for d in sorted(found, key=drift.evidence)
    ]
    page = report.report_html(
        summary(
            model_name="m",
            model_version="1",
            decision="alert",
            reasons=["a drifted"],
            window={"from": "2026-01-01", "to": "2026-01-02", "since": "1d"},
            rows_with_features=len(current),
            distinct_rows=len(current.drop_duplicates()),
            drift=rows,
            drifted_features=[d["feature"] for d in rows if d["drifted"]],
            drift_share=share,
            quality={"met": 8, "evaluated": 8, "failures": [], "suite": "raw_data"},
            holdout_metric="roc_auc",
            live_metrics_by_version={},
            volume=[{"day": "2026-01-01", "source": "online", "model_version": "1", "rows": 200, "requests": 200}],
            trends=[{"day": "2026-01-01", "rows": 200, "share": {"0": 0.4, "1": 0.6}}],
        ),
        reference,
        current,
    )
    levels = {d["feature"]: d["level"] for d in rows}
    drawn = [name for name in "abc" if f'aria-label="{name}: training vs served distribution"' in page]
    assert drawn == [name for name in "abc" if levels[name] in ("drift", "watch")] and "a" in drawn
    assert page.index('aria-label="a:') < page.index("<table")  # pictures first, strongest evidence first
    assert "Repeats dominate: only 40 of 200 rows are distinct" in page
    assert "mean +" in page and "<script" not in page and "http" not in page
