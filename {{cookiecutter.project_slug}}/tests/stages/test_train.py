"""train: every searched trial is a child run; the parent keeps the best, its table, plot, device and versions."""

from __future__ import annotations

import logging

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.core import config, metrics
from {{ cookiecutter.package_name }}.core.metrics import TASKS
from {{ cookiecutter.package_name }}.core.reports import Candidate
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.stages import evaluate, ingest, prepare, register, train
from {{ cookiecutter.package_name }}.training import features, models

from ..helpers import PATHS, complementary_table, run_pipeline, small_params, write_params


def children_of(run_id: str) -> list:
    parent = mlflow.get_run(run_id)
    return MlflowClient().search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'", max_results=1000
    )


@pytest.fixture
def trained_store(in_trained) -> None:
    """The shared trained project, with MLflow pointed at its store (an earlier test may have pointed it elsewhere)."""
    tracking.configure(config.load("params.yaml").tracking)


@pytest.fixture
def prepared(tmp_project, cfg) -> config.Config:
    run_pipeline(cfg, until="prepare")
    return cfg


def with_search(tmp_project, cfg: config.Config, **search) -> config.Config:
    params = cfg.model_dump(by_alias=True, mode="json")
    params["train"]["search"].update(search)
    return write_params(tmp_project, params)


def test_each_trial_is_a_child_run_and_the_parent_keeps_the_best(trained_store) -> None:
    cfg = config.load("params.yaml")
    candidate = Candidate.load(PATHS.candidate)

    metric = f"cv_{cfg.train.metric}"
    children = children_of(candidate.run_id)
    assert len(children) == candidate.trials == 2
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["family"] == child.data.tags["search.family"]
        assert {metric, f"{metric}_std", "fit_seconds"} <= set(child.data.metrics)
    folds = MlflowClient().get_metric_history(children[0].info.run_id, f"{metric}_fold")
    assert sorted(m.step for m in folds) == list(range(cfg.train.cv_folds))

    pick = max if metrics.GREATER_IS_BETTER[cfg.train.metric] else min
    best = pick(children, key=lambda c: c.data.metrics[metric])
    assert [c.data.tags.get("search.best") for c in children].count("true") == 1
    assert best.data.tags.get("search.best") == "true"
    parent = mlflow.get_run(candidate.run_id)
    assert parent.data.tags["search.best_run_id"] == best.info.run_id == candidate.best_trial_run_id
    assert parent.data.params["model.family"] == best.data.params["family"] == candidate.family
    assert parent.data.metrics[metric] == best.data.metrics[metric] == candidate.cv_scores[metric]


def test_the_parent_records_device_versions_times_table_and_plot(trained_store) -> None:
    candidate = Candidate.load(PATHS.candidate)

    run = mlflow.get_run(candidate.run_id)
    assert run.data.tags["device"] == run.data.params["device"] == candidate.device == "cpu"
    assert {"version.python", "version.scikit-learn", "version.mlflow"} <= set(run.data.tags)
    assert {"train_seconds", "search_seconds", "search_logging_share"} <= set(run.data.metrics)
    assert 0 < run.data.metrics["search_logging_share"] < 1
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "search")}
    assert artifacts == {"search/results.json", "search/search.png"}
    table = mlflow.load_table("search/results.json", run_ids=[run.info.run_id])
    assert len(table) == 2 and sorted(table["rank"]) == [1, 2]


def test_the_model_logged_is_the_best_candidate_refitted(trained_store) -> None:
    candidate = Candidate.load(PATHS.candidate)
    model = mlflow.sklearn.load_model(candidate.model_uri)
    if TASKS[config.load("params.yaml").task].has_classes:  # a binary target: the threshold tuned for f1 (default)
        assert candidate.threshold is not None and candidate.threshold_objective == "f1"
        assert (model.threshold, model.pos_label) == (candidate.threshold, Schema.load(PATHS.features).positive_class)
    else:
        assert candidate.threshold is None and model is models.unwrap(model)
    estimator = models.unwrap(model).named_steps["model"]
    assert type(estimator) is type(models.build(candidate.family, config.load("params.yaml").task, {}, seed=0))
    assert {k: estimator.get_params()[k] for k in candidate.params} == candidate.params


def test_cuda_without_a_gpu_fails_before_any_run(tmp_project, prepared, monkeypatch) -> None:
    monkeypatch.setattr(models, "gpu_visible", lambda: False)
    params = prepared.model_dump(by_alias=True, mode="json")
    params["train"]["device"] = "cuda"
    cfg = write_params(tmp_project, params)

    with pytest.raises(models.DeviceError, match="no GPU is visible"):
        train.run(cfg)
    client = MlflowClient(tracking_uri=cfg.tracking.resolved_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    assert experiment is None or not client.search_runs([experiment.experiment_id])


def test_an_xgboost_search_on_the_cpu_logs_a_model_that_loads(tmp_project, prepared, monkeypatch) -> None:
    """The GPU runner's default family, with device auto on a machine without a GPU."""
    pytest.importorskip("xgboost")
    monkeypatch.setattr(models, "gpu_visible", lambda: False)
    cfg = with_search(
        tmp_project, prepared, candidates=[{"family": "xgboost", "params": {"n_estimators": [20], "max_depth": [2, 3]}}]
    )
    candidate = train.run(cfg)

    assert candidate.family == "xgboost" and candidate.device == "cpu"
    run = mlflow.get_run(candidate.run_id)
    assert "version.xgboost" in run.data.tags
    assert {c.data.tags["device"] for c in children_of(candidate.run_id)} == {"cpu"}
    model = mlflow.sklearn.load_model(candidate.model_uri)
    schema = Schema.load(PATHS.features)
    holdout = pd.read_parquet(PATHS.holdout)
    predicted = model.predict(features.conform(holdout, schema))
    assert len(predicted) == len(holdout)
    if cfg.task == "classification":
        assert set(predicted) <= set(schema.classes)  # the original labels, not XGBoost's codes
        assert model.predict_proba(features.conform(holdout, schema)).shape == (len(holdout), len(schema.classes))


def test_a_failed_trial_ends_failed_and_the_search_goes_on(tmp_project, prepared) -> None:
    family, bad = (
        ("logistic_regression", {"C": [-1.0]}) if prepared.task == "classification" else ("ridge", {"alpha": [-1.0]})
    )
    cfg = with_search(
        tmp_project, prepared, candidates=[{"family": family, "params": bad}, {"family": "dummy", "params": {}}]
    )
    candidate = train.run(cfg)

    assert candidate.family == "dummy"
    statuses = {c.data.params["family"]: c.info.status for c in children_of(candidate.run_id)}
    assert statuses == {family: "FAILED", "dummy": "FINISHED"}
    assert mlflow.get_run(candidate.run_id).data.metrics["search_trials_failed"] == 1


def test_an_auto_search_logs_pruned_trials_and_warm_starts_from_the_champion(tmp_project, prepared) -> None:
    cfg = with_search(tmp_project, prepared, strategy="auto", max_trials=8, max_seconds=120, candidates=[])
    first = train.run(cfg)

    children = sorted(children_of(first.run_id), key=lambda c: c.info.start_time)
    assert len(children) == first.trials == 8
    states = {c.data.tags["search.state"] for c in children}
    assert "pruned" in states and "complete" in states
    for child in children:
        pruned = child.data.tags["search.state"] == "pruned"
        assert child.info.status == ("KILLED" if pruned else "FINISHED")
        assert {"fidelity_rows", "fidelity_folds", "fit_seconds"} <= set(child.data.metrics)
        assert (child.data.metrics["fidelity_folds"] < cfg.train.cv_folds) is pruned
    parent = mlflow.get_run(first.run_id)
    artifacts = {a.path for a in MlflowClient().list_artifacts(first.run_id, "search")}
    assert {"search/history.png", "search/results.json"} <= artifacts
    assert parent.data.metrics["search_trials_pruned"] == sum(c.data.tags["search.state"] == "pruned" for c in children)

    evaluate.run(cfg)
    register.run(cfg)  # this search's winner becomes the champion: the next search starts from its configuration
    champion = MlflowClient().get_model_version_by_alias(cfg.tracking.model_name, "champion")
    assert champion.run_id == first.run_id
    again = train.run(cfg)

    warm = min(children_of(again.run_id), key=lambda c: c.info.start_time)
    best = mlflow.get_run(champion.run_id).data.params
    assert warm.data.params["family"] == best["model.family"]
    assert {k: v for k, v in warm.data.params.items() if k != "family"} == {
        k.removeprefix("model."): v for k, v in best.items() if k.startswith("model.") and k != "model.family"
    }


def test_an_ensemble_that_wins_on_cv_is_trained_recorded_and_registered_with_onnx(tmp_project, caplog) -> None:
    # given a table where a ridge and a boosting model each get what the other misses, searched by auto (two
    # trials: the library defaults of boosting and ridge)
    complementary_table().to_csv(tmp_project / "data" / "external" / "complementary.csv", index=False)
    params = small_params("regression") | {"task": "regression"}
    params["ingest"] = {"source": "data/external/complementary.csv", "target": "target", "drop_columns": []}
    params["train"]["search"] = {"strategy": "auto", "max_trials": 2, "max_seconds": 120, "candidates": []}
    cfg = write_params(tmp_project, params)
    ingest.run(cfg)
    prepare.run(cfg)  # (the shipped suite is for the customers table: validate is skipped)
    # when train, evaluate and register run
    with caplog.at_level(logging.INFO):
        candidate = train.run(cfg)
    evaluate.run(cfg)
    report = register.run(cfg)
    # then the candidate is the ensemble of both, its CV score above the best single trial's, said in the train log
    assert candidate.family == "ensemble" and len(candidate.params["members"]) == 2
    parent = mlflow.get_run(candidate.run_id)
    assert parent.data.params["model.family"] == "ensemble"
    assert parent.data.metrics["cv_r2"] == candidate.cv_scores["cv_r2"] > parent.data.metrics["cv_r2_best_single"]
    assert parent.data.tags["search.ensemble"].startswith("ensemble(")
    summary = mlflow.artifacts.load_dict(f"runs:/{candidate.run_id}/search/ensemble.json")
    assert {m["run_id"] for m in summary["members"]} == {c.info.run_id for c in children_of(candidate.run_id)}
    assert any(r.getMessage().startswith("best of 2 trials: ensemble(") for r in caplog.records)
    # and it is registered with its ONNX export (parity held) and profiled on onnxruntime
    tags = MlflowClient().get_model_version(cfg.tracking.model_name, str(report.version)).tags
    assert tags["onnx.parity"] == "held" and tags["profile.runtime"] == "onnxruntime"
    assert report.promoted
