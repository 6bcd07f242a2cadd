"""The promotion rule: strict improvement by a margin, the floor on the metric's scale, schema and task changes."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core import config, gate
from {{ cookiecutter.package_name }}.core.reports import ChampionScores
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
