"""The champion's runtime: registered with its ONNX export, served by onnxruntime when parity held, by scikit-learn
otherwise (one log line says which and why)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import bentoml
import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }} import serving, tracking
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.metrics import TASKS
from {{ cookiecutter.package_name }}.core.reports import Registration
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.serving import model as served_model
from {{ cookiecutter.package_name }}.training import features, onnx_export

from ..helpers import inside, start_server


def holdout(project: Path, schema: Schema) -> pd.DataFrame:
    return features.conform(pd.read_parquet(project / "data" / "processed" / "test.parquet"), schema)


def assert_answers_alike(found: np.ndarray, expected: np.ndarray, schema: Schema) -> None:
    """onnxruntime's answers against scikit-learn's, by the parity rule registration checked: the same labels
    (classification), or values within onnx_export.REGRESSION_TOLERANCE of max(1, |value|) (regression)."""
    if TASKS[schema.task].has_classes:
        assert list(found) == list(expected)
    else:
        found, expected = np.asarray(found, dtype=float), np.asarray(expected, dtype=float)
        bound = onnx_export.REGRESSION_TOLERANCE * np.maximum(1.0, np.abs(expected))
        assert found.shape == expected.shape and bool(np.all(np.abs(found - expected) <= bound))


def parity_failed_copy(champion, name: str) -> bentoml.Model:
    """The champion stored again under another name, as if its ONNX export had failed its parity check."""
    metadata = dict(champion.info.metadata) | {"onnx": {"parity": "failed", "reason": "parity failed: forced"}}
    metadata["files"] = {serving.MLFLOW_FOLDER: metadata["files"][serving.MLFLOW_FOLDER]}  # no ONNX folder, no manifest
    with bentoml.models.create(f"{name}:v1", metadata=metadata) as copy:
        shutil.copytree(champion.path_of(serving.MLFLOW_FOLDER), copy.path_of(serving.MLFLOW_FOLDER))
    return bentoml.models.get(f"{name}:v1")


def test_registration_logs_the_onnx_export_and_the_schema_beside_the_sklearn_model(trained_project: Path) -> None:
    # given the trained project (its champion is one of the default families, which all convert)
    report = Registration.load(trained_project / "reports" / "registration.json")
    assert report.onnx.parity == "held", report.onnx
    with inside(trained_project):
        cfg = config.load("params.yaml")
        client = tracking.configure(cfg.tracking)
        version = client.get_model_version(cfg.tracking.model_name, str(report.version))
        assert version.run_id is not None
        run = client.get_run(version.run_id)
        # then the version and its run carry the parity outcome, the run its numbers and the schema artifact
        assert version.tags["onnx.parity"] == run.data.tags["onnx.parity"] == "held"
        assert run.data.metrics["onnx_parity_labels_equal"] == 1.0
        if TASKS[cfg.task].has_classes:  # regression's bound is relative to each value: the parity tag above
            assert run.data.metrics["onnx_parity_max_difference"] <= onnx_export.PROBABILITY_TOLERANCE
        logged = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/features.json")
        assert Schema.from_dict(logged) == Schema.load(Path("data/processed/features.json"))
        # and the ONNX model, logged with MLflow's onnx flavour, loads
        onnx_model = mlflow.onnx.load_model(version.tags["onnx.model_uri"])
        assert [i.name for i in onnx_model.graph.input][:1]


def test_the_champion_runs_on_onnxruntime_with_sklearns_answers(trained_project: Path, champion) -> None:
    # given the champion in the BentoML store, with its schema in the metadata (Schema.to_dict)
    schema = serving.stored_schema(champion)
    assert schema == Schema.load(trained_project / "data" / "processed" / "features.json")
    # when it is loaded as served, and again on scikit-learn
    fast = serving.load(champion)
    slow = serving.load(champion, runtime="scikit-learn")
    # then the fast one runs on onnxruntime, and both answer the holdout rows alike
    assert fast.runtime_name == "onnxruntime" and slow.runtime_name == "scikit-learn"
    rows = holdout(trained_project, schema)
    (labels, probabilities), (expected, expected_probabilities) = fast.predict(rows), slow.predict(rows)
    assert_answers_alike(labels, expected, schema)
    if probabilities is not None:
        assert np.max(np.abs(probabilities - expected_probabilities)) <= onnx_export.PROBABILITY_TOLERANCE


def test_a_model_whose_parity_failed_runs_on_sklearn_with_one_log_line(
    trained_project: Path, champion, caplog: pytest.LogCaptureFixture
) -> None:
    # given a stored model whose ONNX export failed its parity check
    failed = parity_failed_copy(champion, "parity-failed")
    # when it is loaded
    with caplog.at_level(logging.INFO, logger=served_model.__name__):
        served = serving.load(failed)
    # then scikit-learn runs it, one log line says so and why, and it answers like the champion
    assert served.runtime_name == serving.planned_runtime(failed) == "scikit-learn"
    lines = [r.getMessage() for r in caplog.records if r.name == served_model.__name__]
    assert len(lines) == 1 and "runs on scikit-learn (parity failed: forced)" in lines[0]
    rows = holdout(trained_project, served.schema)
    assert_answers_alike(served.predict(rows)[0], serving.load(champion).predict(rows)[0], served.schema)


@pytest.mark.slow
def test_the_service_says_it_runs_on_onnxruntime(server, champion, feature_rows) -> None:
    # when the running service is asked for its docs and some predictions
    spec = httpx.get(f"{server.url}/docs.json").json()
    response = httpx.post(f"{server.url}/predict", json={"records": feature_rows[:20]})
    # then it says it runs the champion on onnxruntime (docs and log), and answers like scikit-learn
    assert spec["info"]["x-model-runtime"] == "onnxruntime"
    assert "on onnxruntime" in server.log.read_text()
    assert response.status_code == 200
    sklearn = serving.load(champion, runtime="scikit-learn")
    frame = features.conform(pd.DataFrame(feature_rows[:20]), sklearn.schema)
    assert_answers_alike(
        np.asarray([a["prediction"] for a in response.json()]), sklearn.predict(frame)[0], sklearn.schema
    )


@pytest.mark.slow
def test_a_service_whose_champion_failed_parity_answers_on_sklearn(
    trained_project: Path, champion, bentoml_home: Path, feature_rows, tmp_path: Path
) -> None:
    # given a BentoML store whose champion's ONNX export failed its parity check
    home = tmp_path / "bentoml-home"
    shutil.copytree(bentoml_home / "models", home / "models")
    stored = home / "models" / champion.tag.name / champion.tag.version / "model.yaml"
    info = yaml.safe_load(stored.read_text())
    info["metadata"]["onnx"] = {"parity": "failed", "reason": "parity failed: forced"}
    info["metadata"]["files"].pop("onnx_model")  # imported without its ONNX export: no manifest for it
    stored.write_text(yaml.safe_dump(info))
    shutil.rmtree(stored.parent / "onnx_model", ignore_errors=True)
    # when the service starts on it
    server = start_server(trained_project, home, tmp_path)
    try:
        response = httpx.post(f"{server.url}/predict", json={"records": feature_rows[:3]})
        spec = httpx.get(f"{server.url}/docs.json").json()
    finally:
        server.stop()
    # then it still answers, on scikit-learn, and its log says why
    assert response.status_code == 200 and len(response.json()) == 3
    assert spec["info"]["x-model-runtime"] == "scikit-learn"
    assert "runs on scikit-learn (parity failed: forced)" in server.log.read_text()
