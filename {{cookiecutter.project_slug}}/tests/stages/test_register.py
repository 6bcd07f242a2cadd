"""register: the gate decides; champion moves only when it passes; nothing is deleted."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import config, tracking
from {{ cookiecutter.package_name }}.stages import evaluate, register, train

from ..conftest import PATHS, run_pipeline, write_params

GATE = config.Register(metric="roc_auc", min_improvement=0.01, floor=0.8)


def test_first_model_above_the_floor_becomes_champion() -> None:
    decision = register.decide({"roc_auc": 0.85}, None, GATE)
    assert decision.promote
    assert [c.name for c in decision.checks] == ["floor", "improvement"]


def test_below_the_floor_is_rejected_even_without_a_champion() -> None:
    decision = register.decide({"roc_auc": 0.7}, None, GATE)
    assert not decision.promote
    assert decision.reasons[0].startswith("FAIL: roc_auc 0.7000 >= floor 0.8")


@pytest.mark.parametrize(
    ("candidate", "promote"), [(0.905, False), (0.91, False), (0.9101, True), (0.95, True), (0.85, False)]
)
def test_improvement_must_exceed_the_minimum(candidate: float, promote: bool) -> None:
    champion = {"version": 3, "roc_auc": 0.90}
    assert register.decide({"roc_auc": candidate}, champion, GATE).promote is promote


def test_lower_is_better_metrics_invert_the_gate() -> None:
    gate = config.Register(metric="rmse", min_improvement=1.0, floor=50.0)
    assert register.decide({"rmse": 40.0}, {"version": 1, "rmse": 45.0}, gate).promote
    assert not register.decide({"rmse": 44.5}, {"version": 1, "rmse": 45.0}, gate).promote
    assert not register.decide({"rmse": 44.0}, {"version": 1, "rmse": 45.0}, gate).promote  # exactly 1.0: not more
    assert not register.decide({"rmse": 60.0}, None, gate).promote


def test_a_champion_that_cannot_be_scored_blocks_promotion() -> None:
    decision = register.decide({"roc_auc": 0.99}, {"version": 2, "error": "missing feature column(s): x"}, GATE)
    assert not decision.promote
    assert "could not be compared: missing feature column(s): x" in decision.reasons[1]


def test_the_pipeline_registers_a_champion_with_its_reasons(in_trained) -> None:
    cfg = config.load("params.yaml")
    report = json.loads(PATHS.registration.read_text())
    assert report["promoted"] is True and report["champion_after"] == report["version"] == 1
    client = MlflowClient()
    champion = client.get_model_version_by_alias(cfg.tracking.model_name, tracking.CHAMPION)
    assert int(champion.version) == 1
    assert champion.tags["gate.decision"] == "promoted"
    assert "floor" in champion.tags["gate.reasons"]


def test_a_worse_model_stays_challenger(tmp_project, cfg) -> None:
    run_pipeline(cfg)
    params = cfg.model_dump(by_alias=True, mode="json")
    params["train"]["search"]["candidates"] = [{"family": "dummy", "params": {}}]
    params["register"]["floor"] = None  # no floor: only the comparison with the champion can fail
    worse = write_params(tmp_project, params)

    train.run(worse)
    evaluate.run(worse)
    report = register.run(worse)

    assert report["promoted"] is False
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert "improvement" in failed or "baseline" in failed
    assert report["version"] == 2 and report["champion_after"] == report["champion_before"] == 1
    client = MlflowClient()
    name = cfg.tracking.model_name
    assert int(client.get_model_version_by_alias(name, tracking.CHALLENGER).version) == 2
    assert client.get_model_version(name, "2").tags["gate.decision"] == "rejected"
    assert len(client.search_model_versions(f"name = '{name}'")) == 2


def test_registering_the_same_model_again_adds_no_version(tmp_project, cfg) -> None:
    run_pipeline(cfg)
    again = register.run(cfg)
    assert again["version"] == 1 and again["promoted"] is True
    assert len(MlflowClient().search_model_versions(f"name = '{cfg.tracking.model_name}'")) == 1
