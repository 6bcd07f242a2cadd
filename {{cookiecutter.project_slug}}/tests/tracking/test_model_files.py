"""A model's files are checked against the manifest recorded at registration before any load, and opened by skops
with the trusted types in code, never unpickled (tracking/model_files.py)."""

from __future__ import annotations

import builtins
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyClassifier
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.reports import Candidate
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.monitoring.reference import find_data, reference
from {{ cookiecutter.package_name }}.serving import bento_folder
from {{ cookiecutter.package_name }}.serving.model import MLFLOW_FOLDER
from {{ cookiecutter.package_name }}.tracking import model_files, registry, runs
from {{ cookiecutter.package_name }}.training import evaluation, features, models, search

from ..helpers import FIXTURES, PATHS, TARGETS, run_pipeline, write_params


def model_folder(client: MlflowClient, version) -> Path:
    """Where the file store keeps a registered version's model files (what a server's artifact PUT would replace)."""
    location = client.get_logged_model(version.source.removeprefix("models:/")).artifact_location
    return Path(urlparse(location).path) if location.startswith("file:") else Path(location)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_model_family_needs_only_trusted_types(task: str) -> None:
    # given the shipped table and each family train can fit for the task (xgboost where it is installed)
    frame = pd.read_csv(FIXTURES / "customers.csv").drop(columns=["customer_id"])
    target = TARGETS[task]
    frame = frame.drop(columns=[t for t in TARGETS.values() if t != target]).dropna(subset=[target])
    schema = features.infer(frame, target, task)
    X, y = features.conform(frame, schema), frame[target]
    fitted = []
    for family in models.families_for(task):
        try:
            pipeline = search.pipeline_for(search.Trial(family, {}), schema, seed=0)
        except config.UserError:  # a family whose package is not installed here (xgboost without the gpu extra)
            continue
        fitted.append(family)
        # then what skops must trust to load it is in the list in code, and a load gives the same predictions
        types = runs.skops_types(pipeline.fit(X, y))
        assert set(types) <= model_files.TRUSTED_TYPES, (family, types)
    assert {"dummy", "hist_gradient_boosting", "random_forest"} <= set(fitted)


def test_registration_records_the_manifests_and_the_schema_and_loads_check_them(in_trained) -> None:
    cfg = config.load("params.yaml")
    client = MlflowClient()
    version = registry.require_champion(client, cfg.tracking.model_name)
    tags = version.tags
    # the manifest of the model folder names every file, and the schema is the prepared one with the tuned threshold
    manifest = model_files.decode(tags[model_files.MODEL_TAG], "champion", model_files.MODEL_TAG)
    assert {"MLmodel", "model.skops"} <= set(manifest) and "registered_model_meta" not in manifest
    candidate = Candidate.load(PATHS.candidate)
    recorded = Schema.from_dict(json.loads(tags[registry.SCHEMA_TAG]))
    assert recorded == Schema.load(PATHS.features).with_threshold(candidate.decision_threshold)
    assert recorded.threshold is not None  # the default project's classifier is tuned for f1
    if tags.get("onnx.parity") == "held":
        assert "model.onnx" in model_files.decode(tags[model_files.ONNX_TAG], "onnx", model_files.ONNX_TAG)
    # and a checked load predicts what the logged model predicts
    holdout = pd.read_parquet(PATHS.holdout)
    X = features.conform(holdout, Schema.load(PATHS.features))
    np.testing.assert_array_equal(
        model_files.load_version(version).predict(X),
        mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}").predict(X),
    )


def test_a_model_file_changed_after_registration_is_refused_by_every_load(tmp_project, cfg, bentoml_home) -> None:
    # given a registered champion (under a name of its own in the session's BentoML store) whose model file is then
    # changed in the artifact store, as an artifact PUT would
    params = cfg.model_dump(by_alias=True, mode="json")
    params["tracking"]["model_name"] = "changed-after-registration"
    cfg = write_params(tmp_project, params)
    run_pipeline(cfg)
    client = MlflowClient()
    version = registry.require_champion(client, cfg.tracking.model_name)
    stored = model_folder(client, version) / "model.skops"
    stored.write_bytes(stored.read_bytes() + b"\0")
    # then evaluate cannot compare with it, and says why
    schema = Schema.load(PATHS.features)
    holdout = pd.read_parquet(PATHS.holdout)
    scores = evaluation.champion_metrics(cfg, client, holdout, schema)
    assert scores is not None and "model.skops changed" in (scores.error or "")
    assert "do not match the sha256 manifest recorded at registration" in (scores.error or "")
    # the monitor refuses it
    with pytest.raises(model_files.ModelFilesChanged, match=r"model\.skops changed"):
        reference(cfg)
    # and so does the import into the BentoML store (serving, batch, bento build), which keeps nothing of it
    with pytest.raises(model_files.ModelFilesChanged, match=r"model\.skops changed"):
        serving.import_champion(cfg)
    assert not (bentoml_home / "models" / serving.store_name(cfg.tracking.model_name)).exists()


def test_a_stored_model_whose_files_changed_is_not_loaded(champion, tmp_path: Path) -> None:
    # given a copy of the champion's BentoML folder, whose model file is then changed
    folder = tmp_path / "copy"
    shutil.copytree(Path(champion.path_of("")), folder)
    copy = bento_folder.StoredModel(str(champion.tag), bento_folder.Info(dict(champion.info.metadata)), folder)
    assert serving.load(copy).version == champion.info.metadata["registered_version"]
    (folder / MLFLOW_FOLDER / "MLmodel").write_text((folder / MLFLOW_FOLDER / "MLmodel").read_text() + "\n")
    # then loading it is refused, naming the file
    with pytest.raises(model_files.ModelFilesChanged, match="MLmodel changed"):
        serving.load(copy)
    # and a stored model without manifests (imported by an older version) is refused too
    bare = bento_folder.StoredModel(str(champion.tag), bento_folder.Info({**copy.info.metadata, "files": None}), folder)
    with pytest.raises(model_files.UntrustedModel, match="import-model"):
        serving.load(bare)


def test_a_pickled_model_is_refused_without_being_run(tmp_path: Path) -> None:
    # given an MLflow model folder in cloudpickle format whose unpickling would create a file
    marker = tmp_path / "unpickled"

    class Trap(DummyClassifier):
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (marker,))

    mlflow.sklearn.save_model(  # pinned requirements: MLflow would otherwise load the model to infer them
        Trap(), tmp_path / "model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
    )
    assert not marker.exists()
    # then it is refused as a format that runs code, and the file was never unpickled
    with pytest.raises(model_files.UntrustedModel, match="only the skops format"):
        model_files.load_sklearn(tmp_path / "model")
    assert not marker.exists()


def test_a_skops_model_needing_an_untrusted_type_is_refused_whatever_its_mlmodel_trusts(tmp_path: Path) -> None:
    # given a skops model that calls a builtin, with MLmodel's own list trusting it
    model = FunctionTransformer(builtins.exec)
    import skops.io

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    mlflow.sklearn.save_model(model, tmp_path / "model", serialization_format="skops", skops_trusted_types=trusted)
    # then the list in code decides, and the type is named
    with pytest.raises(model_files.UntrustedModel, match=r"builtins\.exec"):
        model_files.load_sklearn(tmp_path / "model")
    # and train refuses to log such a model in the first place
    with pytest.raises(model_files.UntrustedModel, match="TRUSTED_TYPES"):
        model_files.refuse_untrusted_types(trusted)


def test_a_version_without_a_manifest_is_refused_until_the_writer_records_one(tmp_project, cfg) -> None:
    # given a champion registered before manifests were recorded (its tags removed)
    run_pipeline(cfg)
    client = MlflowClient()
    version = registry.require_champion(client, cfg.tracking.model_name)
    for tag in {model_files.MODEL_TAG, model_files.ONNX_TAG, registry.SCHEMA_TAG} & set(version.tags):
        client.delete_model_version_tag(version.name, version.version, tag)
    bare = client.get_model_version(version.name, version.version)
    # then a load refuses it and names the command
    with pytest.raises(model_files.UntrustedModel, match="record-manifest --version N"):
        model_files.load_version(bare)
    # and once the writer records one, the champion loads again, with the same tags register writes
    recorded = registry.record_manifests(client, version.name, version.version)
    again = client.get_model_version(version.name, version.version)
    assert again.tags[model_files.MODEL_TAG] == recorded[model_files.MODEL_TAG] == version.tags[model_files.MODEL_TAG]
    assert json.loads(again.tags[registry.SCHEMA_TAG]) == json.loads(version.tags[registry.SCHEMA_TAG])
    assert model_files.load_version(again) is not None
    with pytest.raises(config.UserError, match="has a manifest already"):
        registry.record_manifests(client, version.name, version.version)


@pytest.mark.parametrize("tag", ["/etc/passwd", "../../../etc/passwd", "a" * 31, "A" * 32, "g" * 32])
def test_a_lineage_tag_that_is_not_an_md5_never_names_a_file(tmp_path: Path, tag: str) -> None:
    with pytest.raises(config.UserError, match="not an md5"):
        find_data(tmp_path / "absent.parquet", tag, "champion's training data")
