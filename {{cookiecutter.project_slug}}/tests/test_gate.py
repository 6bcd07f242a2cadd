"""The promotion rule: strict improvement by a margin, the floor on the metric's scale, schema and task changes."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }} import config, gate

AUC = config.Register(metric="roc_auc", min_improvement=0.001, floor=0.6)
SCHEMA = {
    "task": "classification",
    "features": [{"name": "plan", "kind": "categorical"}, {"name": "tenure", "kind": "numeric"}],
    "classes": ["no", "yes"],
}


def test_an_equal_score_never_replaces_the_champion() -> None:
    decision = gate.decide(
        {"roc_auc": 0.9}, {"version": 1, "roc_auc": 0.9}, config.Register(metric="roc_auc", min_improvement=0.0)
    )
    assert not decision.promote
    assert "improvement +0.0000 (needs > 0.0) is False" in decision.reasons[-1]


def test_the_default_margin_is_above_rounding_noise() -> None:
    assert config.Register(metric="roc_auc").min_improvement == 0.001
    champion = {"version": 1, "roc_auc": 0.95}
    assert not gate.decide({"roc_auc": 0.9501}, champion, AUC).promote  # +0.0001: what duplicates once bought
    assert gate.decide({"roc_auc": 0.9511}, champion, AUC).promote


def test_a_candidate_must_beat_a_model_that_ignores_the_features() -> None:
    decision = gate.decide({"roc_auc": 0.61}, None, AUC, baseline={"roc_auc": 0.65})
    assert not decision.promote
    assert "FAIL: roc_auc 0.6100 vs 0.6500 of a model that ignores the features: NOT better" in decision.reasons


def test_no_floor_is_a_stated_pass() -> None:
    decision = gate.decide({"rmse": 300.0}, None, config.Register(metric="rmse"))
    assert decision.promote and "no floor set" in decision.reasons[0]


def test_a_schema_change_is_named_in_one_line() -> None:
    new = {
        "task": "classification",
        "features": [{"name": "plan", "kind": "numeric"}, {"name": "region", "kind": "categorical"}],
        "classes": ["a", "b", "c"],
    }
    change = gate.schema_change(SCHEMA, new)
    assert change.added == ("region",) and change.removed == ("tenure",)
    assert change.retyped == (("plan", "categorical", "numeric"),)
    assert change.describe() == (
        "1 column(s) added: region; 1 column(s) removed: tenure; 1 column(s) retyped: plan (categorical -> numeric); "
        "classes ['no', 'yes'] -> ['a', 'b', 'c']"
    )
    assert not gate.schema_change(SCHEMA, SCHEMA)


def test_a_task_change_is_a_schema_change() -> None:
    regression = {"task": "regression", "features": SCHEMA["features"], "classes": []}
    change = gate.schema_change(SCHEMA, regression)
    assert change.describe() == "task classification -> regression"


def test_a_schema_change_promotes_on_the_floor_alone_and_says_so() -> None:
    change = gate.schema_change(SCHEMA, {**SCHEMA, "features": SCHEMA["features"][:1]}).as_dict()
    decision = gate.decide({"roc_auc": 0.7}, {"version": 4, "schema_change": change}, AUC, {"roc_auc": 0.5})
    assert decision.promote
    assert decision.schema_change == "1 column(s) removed: tenure"
    assert "schema changed vs champion v4 (1 column(s) removed: tenure)" in decision.reasons[-1]
    below = gate.decide({"roc_auc": 0.55}, {"version": 4, "schema_change": change}, AUC)
    assert not below.promote, "the floor still applies after a schema change"


def test_an_error_metric_floor_on_another_scale_is_a_config_error() -> None:
    with pytest.raises(config.ConfigError) as error:
        gate.check_floor_scale("rmse", 0.8, {"rmse": 312.4})
    message = str(error.value)
    assert "register.floor 0.8 is on another scale than rmse on this data" in message
    assert "predicting the mean scores rmse 312.4" in message and "e.g. 249.9" in message
    gate.check_floor_scale("rmse", 250.0, {"rmse": 312.4})  # on the target's scale: fine
    gate.check_floor_scale("roc_auc", 0.8, {"roc_auc": 0.5})  # unitless metrics have no scale to check
