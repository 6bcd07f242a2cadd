"""What the MLflow UI shows for a pipeline run: the model-training view, named parents, datasets, fit-time children,
described registry versions, and the deep links `make ui` prints."""

from __future__ import annotations

import json

import matplotlib
import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import config, search, tables, tracking
from {{ cookiecutter.package_name }}.stages import evaluate, train

from .conftest import PATHS


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
    champion = tracking.version_by_alias(client, cfg.tracking.model_name, tracking.CHAMPION)
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
    champion = tracking.version_by_alias(client, cfg.tracking.model_name, tracking.CHAMPION)
    assert experiment is not None and champion is not None
    assert links["experiment"] == (
        f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    )
    assert links["champion"].endswith(f"/versions/{champion.version}?workflowType=machine_learning")


def test_the_search_plot_axis_fits_the_scores() -> None:
    # given eight trials whose scores differ only in the third decimal
    trials = [search.Trial("logistic_regression", {"C": c}) for c in range(8)]
    results = [search.TrialResult(t, 0.991 + i * 0.0007, 0.001, 1.0, []) for i, t in enumerate(trials)]
    figure = train.search_figure(search.SearchResult("roc_auc", results, 8.0, False))
    # then the axis spans the scores, not 0..1
    low, high = figure.axes[0].get_xlim()
    assert 0.98 < low < 0.991 and 0.996 < high < 1.0
    matplotlib.pyplot.close(figure)


def test_the_roc_legend_shows_four_decimals() -> None:
    y = pd.Series([0, 0, 1, 1, 0, 1, 1, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.7, 0.6, 0.65, 0.95])
    figure = evaluate.roc_figure(y, scores, 1)
    legend = figure.axes[0].get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0] == "candidate (AUC = 0.9167)"
    matplotlib.pyplot.close(figure)
