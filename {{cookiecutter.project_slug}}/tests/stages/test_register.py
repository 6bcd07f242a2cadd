"""register: the gate decides; champion moves only when it passes; nothing is deleted."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.reports import Registration
from {{ cookiecutter.package_name }}.stages import evaluate, register, train

from ..helpers import PATHS, run_pipeline, write_params


def test_the_pipeline_registers_a_champion_with_its_reasons(in_trained) -> None:
    cfg = config.load("params.yaml")
    report = Registration.load(PATHS.registration)
    assert report.promoted is True and report.champion_after == report.version == 1
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

    assert report.promoted is False
    failed = [c.name for c in report.checks if not c.passed]
    assert "improvement" in failed or "baseline" in failed
    assert report.version == 2 and report.champion_after == report.champion_before == 1
    assert Registration.load(PATHS.registration) == report
    client = MlflowClient()
    name = cfg.tracking.model_name
    assert int(client.get_model_version_by_alias(name, tracking.CHALLENGER).version) == 2
    assert client.get_model_version(name, "2").tags["gate.decision"] == "rejected"
    assert len(client.search_model_versions(f"name = '{name}'")) == 2


def test_registering_the_same_model_again_adds_no_version(tmp_project, cfg) -> None:
    run_pipeline(cfg)
    again = register.run(cfg)
    assert again.version == 1 and again.promoted is True
    assert len(MlflowClient().search_model_versions(f"name = '{cfg.tracking.model_name}'")) == 1
