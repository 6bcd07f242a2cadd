"""The promotion rule: strict improvement by a margin, the floor on the metric's scale, schema and task changes."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core import config, gate
from {{ cookiecutter.package_name }}.core.reports import ChampionScores, Profile
from {{ cookiecutter.package_name }}.core.schema import Feature, Schema

AUC = config.Register(metric="roc_auc", min_improvement=0.001, floor=0.6)
GATE = config.Register(metric="roc_auc", min_improvement=0.01, floor=0.8)
PLAN, TENURE = Feature("plan", "categorical", "object"), Feature("tenure", "numeric", "float64")
SCHEMA = Schema(target="churned", task="classification", features=(PLAN, TENURE), classes=("no", "yes"))


def champion(**found: object) -> ChampionScores:
    """The champion's entry of reports/metrics.json, as evaluate writes it."""
    return ChampionScores.model_validate(found)


def test_an_equal_score_never_replaces_the_champion() -> None:
    decision = gate.decide(
        {"roc_auc": 0.9}, champion(version=1, roc_auc=0.9), config.Register(metric="roc_auc", min_improvement=0.0)
    )
    assert not decision.promote
    assert "improvement +0.0000 (needs > 0.0) is False" in decision.reasons[-1]


def test_the_default_margin_is_above_rounding_noise() -> None:
    assert config.Register(metric="roc_auc").min_improvement == 0.001
    current = champion(version=1, roc_auc=0.95)
    assert not gate.decide({"roc_auc": 0.9501}, current, AUC).promote  # +0.0001: what duplicates once bought
    assert gate.decide({"roc_auc": 0.9511}, current, AUC).promote


def test_a_candidate_must_beat_a_model_that_ignores_the_features() -> None:
    decision = gate.decide({"roc_auc": 0.61}, None, AUC, baseline={"roc_auc": 0.65})
    assert not decision.promote
    assert "FAIL: roc_auc 0.6100 vs 0.6500 of a model that ignores the features: NOT better" in decision.reasons


def test_no_floor_is_a_stated_pass() -> None:
    decision = gate.decide({"rmse": 300.0}, None, config.Register(metric="rmse"))
    assert decision.promote and "no floor set" in decision.reasons[0]


def test_a_schema_change_is_named_in_one_line() -> None:
    features = (Feature("plan", "numeric", "float64"), Feature("region", "categorical", "object"))
    new = Schema(target="churned", task="classification", features=features, classes=("a", "b", "c"))
    change = gate.schema_change(SCHEMA, new)
    assert change.added == ("region",) and change.removed == ("tenure",)
    assert change.retyped == (("plan", "categorical", "numeric"),)
    assert change.describe() == (
        "1 column(s) added: region; 1 column(s) removed: tenure; 1 column(s) retyped: plan (categorical -> numeric); "
        "classes ['no', 'yes'] -> ['a', 'b', 'c']"
    )
    assert not gate.schema_change(SCHEMA, SCHEMA)


def test_a_task_change_is_a_schema_change() -> None:
    regression = Schema(target="spend", task="regression", features=SCHEMA.features)
    change = gate.schema_change(SCHEMA, regression)
    assert change.describe() == "task classification -> regression"


def test_a_schema_change_promotes_on_the_floor_alone_and_says_so() -> None:
    change = gate.schema_change(SCHEMA, Schema("churned", "classification", (PLAN,), SCHEMA.classes)).report()
    decision = gate.decide({"roc_auc": 0.7}, champion(version=4, schema_change=change), AUC, {"roc_auc": 0.5})
    assert decision.promote
    assert decision.schema_change == "1 column(s) removed: tenure"
    assert "schema changed vs champion v4 (1 column(s) removed: tenure)" in decision.reasons[-1]
    below = gate.decide({"roc_auc": 0.55}, champion(version=4, schema_change=change), AUC)
    assert not below.promote, "the floor still applies after a schema change"


def test_a_champion_scored_despite_a_schema_change_must_still_be_beaten() -> None:
    # the champion's columns were still in the data: evaluate scored it on the same holdout rows with its own
    change = gate.schema_change(SCHEMA, Schema("churned", "classification", (PLAN,), SCHEMA.classes)).report()
    scored = champion(version=4, schema_change=change, roc_auc=0.9489)
    decision = gate.decide({"roc_auc": 0.9485}, scored, AUC, {"roc_auc": 0.5})
    assert not decision.promote, "a schema change no longer skips the improvement check"
    assert decision.schema_change == "1 column(s) removed: tenure"
    assert decision.comparison == "champion v4 scored on the same holdout rows with its own columns (schema changed)"
    assert (
        decision.checks[-1].name == "improvement"
        and "schema changed: 1 column(s) removed: tenure" in decision.reasons[-1]
    )


def test_which_comparison_applied_is_said_in_one_line() -> None:
    assert gate.decide({"roc_auc": 0.9}, None, AUC).comparison == "no champion yet"
    assert gate.decide({"roc_auc": 0.9}, champion(version=2, roc_auc=0.8), AUC).comparison == (
        "champion v2 scored on the same holdout rows"
    )
    change = gate.schema_change(SCHEMA, Schema("spend", "regression", SCHEMA.features)).report()
    other = champion(version=3, schema_change=change, unscorable="another task: classification -> regression")
    assert gate.decide({"roc_auc": 0.9}, other, AUC).comparison == (
        "champion v3 not scored (another task: classification -> regression): floor and baseline alone"
    )
    broken = champion(version=5, error="boom")
    assert gate.decide({"roc_auc": 0.9}, broken, AUC).comparison == "champion v5 could not be scored: boom"


def test_an_error_metric_floor_on_another_scale_is_a_config_error() -> None:
    with pytest.raises(config.ConfigError) as error:
        gate.check_floor_scale("rmse", 0.8, {"rmse": 312.4})
    message = str(error.value)
    assert "register.floor 0.8 is on another scale than rmse on this data" in message
    assert "predicting the mean scores rmse 312.4" in message and "e.g. 249.9" in message
    gate.check_floor_scale("rmse", 250.0, {"rmse": 312.4})  # on the target's scale: fine
    gate.check_floor_scale("roc_auc", 0.8, {"roc_auc": 0.5})  # unitless metrics have no scale to check


def test_first_model_above_the_floor_becomes_champion() -> None:
    decision = gate.decide({"roc_auc": 0.85}, None, GATE)
    assert decision.promote
    assert [c.name for c in decision.checks] == ["floor", "improvement"]


def test_below_the_floor_is_rejected_even_without_a_champion() -> None:
    decision = gate.decide({"roc_auc": 0.7}, None, GATE)
    assert not decision.promote
    assert decision.reasons[0].startswith("FAIL: roc_auc 0.7000 >= floor 0.8")


@pytest.mark.parametrize(
    ("candidate", "promote"), [(0.905, False), (0.91, False), (0.9101, True), (0.95, True), (0.85, False)]
)
def test_improvement_must_exceed_the_minimum(candidate: float, promote: bool) -> None:
    assert gate.decide({"roc_auc": candidate}, champion(version=3, roc_auc=0.90), GATE).promote is promote


def test_lower_is_better_metrics_invert_the_gate() -> None:
    rmse = config.Register(metric="rmse", min_improvement=1.0, floor=50.0)
    current = champion(version=1, rmse=45.0)
    assert gate.decide({"rmse": 40.0}, current, rmse).promote
    assert not gate.decide({"rmse": 44.5}, current, rmse).promote
    assert not gate.decide({"rmse": 44.0}, current, rmse).promote  # exactly 1.0: not more
    assert not gate.decide({"rmse": 60.0}, None, rmse).promote


def test_a_champion_that_cannot_be_scored_blocks_promotion() -> None:
    decision = gate.decide({"roc_auc": 0.99}, champion(version=2, error="missing feature column(s): x"), GATE)
    assert not decision.promote
    assert "could not be compared: missing feature column(s): x" in decision.reasons[1]


# --- the version's profile: budgets and the slowdown vs the champion ---------------------------------------------


def profile(p99: float, **changes: object) -> Profile:
    """A version's profile as register measures it (training/profiling.py)."""
    measured = {
        "runtime": "onnxruntime",
        "latency_p50_ms": p99 / 3,
        "latency_p99_ms": p99,
        "rows_per_s": 250_000.0,
        "size_mb": 0.003,
        "load_s": 0.01,
        "rss_mb": 150.0,
        "features": 30,
    }
    return Profile.model_validate(measured | changes)


def test_a_budget_below_the_measured_latency_refuses_and_names_the_budget() -> None:
    rules = config.Register(metric="roc_auc", max_latency_ms=0.1)
    checks = gate.budget_checks(rules, profile(0.42), None, None)
    decision = gate.with_checks(gate.decide({"roc_auc": 0.95}, None, rules), checks)
    assert not decision.promote
    assert "FAIL: p99 latency 0.42 ms > register.max_latency_ms 0.1 (onnxruntime)" in decision.reasons


def test_size_and_memory_budgets_name_their_key_and_value() -> None:
    rules = config.Register(metric="roc_auc", max_size_mb=10, max_rss_mb=100)
    checks = gate.budget_checks(rules, profile(0.2, size_mb=12.5, rss_mb=80.0), None, None)
    assert [(c.name, c.passed) for c in checks] == [("size", False), ("rss", True)]
    assert checks[0].detail == "model size 12.5 MiB > register.max_size_mb 10 (onnxruntime)"
    assert checks[1].detail == "peak RSS after load 80 MiB <= register.max_rss_mb 100 (onnxruntime)"


def test_no_budget_set_means_no_budget_check() -> None:
    rules = config.Register(metric="roc_auc", max_slowdown=None)
    assert gate.budget_checks(rules, profile(50.0), profile(0.1), 1) == []


def test_a_much_slower_candidate_needs_the_explicit_allowance() -> None:
    # Given a champion answering in 0.2 ms and a candidate in 2.4 ms (12x), with the default max_slowdown of 5
    rules = config.Register(metric="roc_auc")
    assert rules.max_slowdown == 5 and rules.allow_slowdown is False
    slower, champion_profile = profile(2.4, runtime="scikit-learn"), profile(0.2)
    # Then the gate refuses it and says how to accept it
    (check,) = gate.budget_checks(rules, slower, champion_profile, 3)
    assert not check.passed and check.name == "slowdown"
    assert check.detail.startswith("p99 latency 2.4 ms (scikit-learn) is 12.0x champion v3's 0.2 ms (onnxruntime)")
    assert "over register.max_slowdown 5x (set register.allow_slowdown: true to accept it)" in check.detail
    # and with the allowance it passes, saying so
    allowed = config.Register(metric="roc_auc", allow_slowdown=True)
    (check,) = gate.budget_checks(allowed, slower, champion_profile, 3)
    assert check.passed and "allowed by register.allow_slowdown" in check.detail
    # while a candidate within the allowance passes without one
    (check,) = gate.budget_checks(rules, profile(0.9), champion_profile, 3)
    assert check.passed and "4.5x" in check.detail and "within register.max_slowdown 5x" in check.detail


def test_a_champion_without_a_profile_is_no_reason_to_refuse() -> None:
    assert gate.budget_checks(config.Register(metric="roc_auc"), profile(9.0), None, 1) == []


def test_a_budget_without_a_profile_to_check_fails() -> None:
    rules = config.Register(metric="roc_auc", max_latency_ms=1)
    (check,) = gate.budget_checks(rules, None, None, None)
    assert not check.passed and check.detail == "no profile to check register.max_latency_ms 1 ms against"


def test_budgets_in_params_must_be_positive_and_the_slowdown_above_one() -> None:
    for key, value in (("max_latency_ms", 0), ("max_size_mb", -1), ("max_slowdown", 1)):
        with pytest.raises(ValueError, match=key):
            config.Register.model_validate({"metric": "roc_auc", key: value})
