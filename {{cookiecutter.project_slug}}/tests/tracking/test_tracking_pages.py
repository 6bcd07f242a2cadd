"""What the MLflow UI shows for a pipeline run: the model-training view, named parents, datasets, fit-time children,
described registry versions, and the deep links `make ui` prints."""

from __future__ import annotations

import json

import mlflow
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.data import tables

from ..helpers import PATHS


def test_the_experiment_is_marked_as_model_training(in_trained) -> None:
    cfg = config.load("params.yaml")
    client = tracking.configure(cfg.tracking)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    assert experiment is not None
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_parent_run_is_named_after_its_family_and_data(in_trained) -> None:
    candidate = json.loads(PATHS.candidate.read_text())
    run = mlflow.get_run(candidate["run_id"])
    assert run.info.run_name == candidate["run_name"] == f"{candidate['family']} · data {candidate['data_md5'][:8]}"
    assert candidate["data_md5"] == tables.file_md5(PATHS.train)


def test_training_and_holdout_datasets_are_logged_with_their_dvc_hash(in_trained) -> None:
    candidate = json.loads(PATHS.candidate.read_text())
    run_inputs = mlflow.get_run(candidate["run_id"]).inputs
    assert run_inputs is not None
    inputs = run_inputs.dataset_inputs
    found = {}
    for item in inputs:
        tags = {t.key: t.value for t in item.tags}
        found[tags["mlflow.data.context"]] = (item.dataset.name, tags["dvc.md5"])
    assert found["training"] == ("train", tables.file_md5(PATHS.train))
    assert found["holdout"] == ("test", tables.file_md5(PATHS.holdout))


def test_child_runs_last_as_long_as_their_fits(in_trained) -> None:
    candidate = json.loads(PATHS.candidate.read_text())
    parent = mlflow.get_run(candidate["run_id"])
    children = MlflowClient().search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert children
    for child in children:
        duration = (child.info.end_time - child.info.start_time) / 1000
        assert abs(duration - child.data.metrics["fit_seconds"]) <= 0.002
        assert child.info.run_name.startswith(child.data.params["family"])


def test_the_registry_version_is_described(in_trained) -> None:
    cfg = config.load("params.yaml")
    client = tracking.configure(cfg.tracking)
    champion = tracking.champion(client, cfg.tracking.model_name)
    assert champion is not None
    text = client.get_model_version(cfg.tracking.model_name, champion.version).description
    assert text is not None
    candidate = json.loads(PATHS.candidate.read_text())
    assert text.startswith("**promoted** by the quality gate")
    assert candidate["data_md5"] in text and "- commit: `" in text and "- gate: pass: " in text


def test_ui_links_open_the_runs_and_the_champion(in_trained) -> None:
    cfg = config.load("params.yaml")
    client = tracking.configure(cfg.tracking)
    links = tracking.ui_links(client, cfg.tracking, "http://127.0.0.1:5000")
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    champion = tracking.champion(client, cfg.tracking.model_name)
    assert experiment is not None and champion is not None
    assert links["experiment"] == (
        f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    )
    assert links["champion"].endswith(f"/versions/{champion.version}?workflowType=machine_learning")
