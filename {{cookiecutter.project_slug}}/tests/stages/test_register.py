"""register: the gate decides; champion moves only when it passes; nothing is deleted."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.reports import HoldoutMetrics, Profile, Registration
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.stages import evaluate, ingest, prepare, register, train

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


def test_a_changed_schema_is_still_compared_on_the_same_holdout(tmp_project, cfg) -> None:
    # Given a champion that uses `region`, and a candidate told to leave it out (its columns are still in the data)
    run_pipeline(cfg)
    params = cfg.model_dump(by_alias=True, mode="json")
    params["prepare"]["roles"] = {"region": "ignore"}
    mine = write_params(tmp_project, params)
    # When the pipeline runs again
    for stage in (prepare, train, evaluate):
        stage.run(mine)
    report = register.run(mine)
    # Then the champion was scored on the same holdout rows with its own columns, and the improvement check applied
    metrics = HoldoutMetrics.load(PATHS.metrics)
    assert metrics.champion is not None and mine.register_.metric in metrics.champion.scores
    assert metrics.champion.schema_change is not None and metrics.champion.schema_change.removed == ["region"]
    assert report.comparison == "champion v1 scored on the same holdout rows with its own columns (schema changed)"
    improvement = next(c for c in report.checks if c.name == "improvement")
    assert "schema changed: 1 column(s) removed: region" in improvement.detail
    tags = MlflowClient().get_model_version(mine.tracking.model_name, "2").tags
    assert tags["gate.comparison"] == report.comparison and tags["gate.schema_change"] == "1 column(s) removed: region"


def test_a_champion_whose_columns_are_gone_is_judged_on_floor_and_baseline_and_says_why(tmp_project, cfg) -> None:
    # Given a champion that uses `region`, and a new version of the data without that column
    run_pipeline(cfg)
    source = tmp_project / cfg.ingest.source
    pd.read_csv(source).drop(columns=["region"]).to_csv(source, index=False)
    # When the pipeline runs again (the suite would stop it at validate: the test skips that stage)
    for stage in (ingest, prepare, train, evaluate):
        stage.run(cfg)
    report = register.run(cfg)
    # Then the champion could not be scored, and the candidate was judged on the floor and baseline alone, saying why
    assert report.comparison == (
        "champion v1 not scored (the columns it needs are gone from the data: region): floor and baseline alone"
    )
    assert [c.name for c in report.checks][:3] == ["floor", "baseline", "schema"] and report.promoted
    scores = HoldoutMetrics.load(PATHS.metrics).champion
    assert scores is not None and (scores.unscorable or "").startswith("the columns it needs are gone")


def test_every_version_the_pipeline_registers_carries_its_profile(in_trained) -> None:
    cfg = config.load("params.yaml")
    report = Registration.load(PATHS.registration)
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{cfg.tracking.model_name}'")
    assert versions and all(Profile.from_tags(v.tags) is not None for v in versions)
    # the registered version's tags and reports/registration.json hold the same profile, measured on onnxruntime
    # (its ONNX parity held), with one input per feature
    tags = client.get_model_version(cfg.tracking.model_name, str(report.version)).tags
    assert report.profile is not None and Profile.from_tags(tags) == report.profile
    assert tags["onnx.parity"] == "held" and tags["profile.runtime"] == "onnxruntime"
    assert report.profile.features == len(Schema.load(PATHS.features).features)
    assert report.champion_profile is None  # there was no champion before v1


def test_a_latency_budget_or_a_slowdown_refuses_the_version_and_names_it(tmp_project, cfg) -> None:
    # Given champion v1 on onnxruntime
    run_pipeline(cfg)
    # When a candidate served by scikit-learn (a dummy model: no ONNX converter) meets a latency budget below
    # anything measurable and a slowdown allowance it cannot meet
    params = cfg.model_dump(by_alias=True, mode="json")
    params["train"]["search"]["candidates"] = [{"family": "dummy", "params": {}}]
    params["register"] |= {"floor": None, "max_latency_ms": 1e-6, "max_slowdown": 1.01}
    slow = write_params(tmp_project, params)
    train.run(slow)
    evaluate.run(slow)
    report = register.run(slow)
    # Then it is refused, and each reason names the budget and what was measured
    assert report.promoted is False and report.champion_after == 1
    assert report.profile is not None and report.profile.runtime == "scikit-learn"
    assert report.champion_profile is not None and report.champion_profile.runtime == "onnxruntime"
    failed = {c.name: c.detail for c in report.checks if not c.passed}
    assert failed["latency"] == (
        f"p99 latency {report.profile.latency_p99_ms:.3g} ms > register.max_latency_ms 1e-06 (scikit-learn)"
    )
    assert (
        f"is {report.profile.latency_p99_ms / report.champion_profile.latency_p99_ms:.1f}x champion v1's"
        in (failed["slowdown"])
    )
    assert failed["slowdown"].endswith(
        "over register.max_slowdown 1.01x (set register.allow_slowdown: true to accept it)"
    )
    reasons = MlflowClient().get_model_version(cfg.tracking.model_name, "2").tags["gate.reasons"]
    assert "register.max_latency_ms" in reasons and "register.max_slowdown" in reasons
