"""Only what this project's train stage logged is registered: a candidate.json that names a run or a model from
elsewhere is refused before anything loads it (tracking/provenance.py)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyClassifier, DummyRegressor

from {{ cookiecutter.package_name }}.core.reports import Candidate
from {{ cookiecutter.package_name }}.stages import evaluate, register
from {{ cookiecutter.package_name }}.tracking import provenance

from ..helpers import PATHS, run_pipeline


def logged_elsewhere(experiment: str, task: str) -> tuple[str, str]:
    """A model logged, as a pull request's job would, into another experiment: (run id, model id)."""
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        model = DummyClassifier() if task == "classification" else DummyRegressor()
        info = mlflow.sklearn.log_model(model.fit([[0.0], [1.0]], [0, 1]), name="model")
    return run.info.run_id, info.model_id


def test_a_candidate_from_another_experiment_is_neither_evaluated_nor_registered(tmp_project, cfg) -> None:
    # given a project with a champion, and a candidate.json pointing at a model logged in another experiment
    run_pipeline(cfg)
    client = MlflowClient()
    versions = len(client.search_model_versions(f"name = '{cfg.tracking.model_name}'"))
    mine = Candidate.load(PATHS.candidate)
    run_id, model_id = logged_elsewhere(f"{cfg.tracking.experiment}-pull-requests", cfg.task)
    forged = mine.model_copy(update={"run_id": run_id, "model_id": model_id, "model_uri": f"models:/{model_id}"})
    forged.save(PATHS.candidate)
    # then register refuses it, naming the experiment, and no version is added
    with pytest.raises(provenance.ForeignCandidate, match=f"not {cfg.tracking.experiment!r}"):
        register.run(cfg)
    assert len(client.search_model_versions(f"name = '{cfg.tracking.model_name}'")) == versions
    # and evaluate does not load it either
    with pytest.raises(provenance.ForeignCandidate):
        evaluate.run(cfg)


def test_a_candidate_whose_parts_do_not_belong_together_is_refused(tmp_project, cfg, monkeypatch) -> None:
    run_pipeline(cfg)
    mine = Candidate.load(PATHS.candidate)
    client = MlflowClient()
    # a model URI that is not the logged model's own (a run's artifact path, a file)
    for uri in (f"runs:/{mine.run_id}/model", "file:///tmp/model", f"models:/{mine.model_id}/../x"):
        with pytest.raises(provenance.ForeignCandidate, match="models:/m-<id>"):
            provenance.check_candidate(client, mine.model_copy(update={"model_uri": uri}), cfg.tracking.experiment)
    # a model logged by another run of the same experiment
    _, model_id = logged_elsewhere(cfg.tracking.experiment, cfg.task)
    swapped = mine.model_copy(update={"model_id": model_id, "model_uri": f"models:/{model_id}"})
    with pytest.raises(provenance.ForeignCandidate, match="not logged by that run"):
        provenance.check_candidate(client, swapped, cfg.tracking.experiment)
    # a run nobody can find
    with pytest.raises(provenance.ForeignCandidate, match="does not show its run"):
        provenance.check_candidate(client, mine.model_copy(update={"run_id": "0" * 32}), cfg.tracking.experiment)
    # and on a server with users, a run that another user started
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "writer")
    with pytest.raises(provenance.ForeignCandidate, match="not by this job's user 'writer'"):
        provenance.check_candidate(client, mine, cfg.tracking.experiment)
    # while main's own candidate passes
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    provenance.check_candidate(client, mine, cfg.tracking.experiment)
