"""The fast path's export: the whole pipeline to ONNX, checked against scikit-learn before anything serves it."""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.reports import Registration
from {{ cookiecutter.package_name }}.serving.model import ServedModel
from {{ cookiecutter.package_name }}.serving.runtime import OnnxRuntime, SklearnRuntime, columns_of, columns_of_rows
from {{ cookiecutter.package_name }}.training import features, onnx_export, search
from {{ cookiecutter.package_name }}.training.search import Trial

from ..helpers import FIXTURES, fitted, run_pipeline, session_bentoml_home, write_params

DEFAULT_FAMILIES = [  # params.yaml's candidates for each task
    ("classification", "logistic_regression"),
    ("classification", "hist_gradient_boosting"),
    ("regression", "ridge"),
    ("regression", "hist_gradient_boosting"),
]


def served(runtime: OnnxRuntime | SklearnRuntime) -> ServedModel:
    """A runtime as the service, batch and Spark run it: labels from its probabilities by the schema's rule."""
    return ServedModel(runtime, runtime.schema, "test", "1")


@pytest.mark.parametrize(("task", "family"), DEFAULT_FAMILIES)
def test_the_default_families_export_with_parity_held(task: str, family: str) -> None:
    # given a default family's pipeline (imputers, scaler, one-hot encoder, model) and holdout rows that include
    # missing numbers and missing categories
    model, holdout, schema = fitted(family, task)
    assert holdout["region"].isna().any() and holdout["monthly_fee"].isna().any()
    # when it is exported and checked
    export = onnx_export.export_checked(model, schema, holdout)
    # then parity held, and onnxruntime's answers match scikit-learn's row for row
    assert export.usable, export.reason
    assert export.parity is not None
    assert export.parity.held and export.parity.labels_equal and export.parity.rows == len(holdout)
    onnx = OnnxRuntime(export.onnx.SerializeToString(), schema)
    labels, probabilities = served(onnx).predict_columns(columns_of(holdout, schema))
    expected_labels, expected_probabilities = served(SklearnRuntime(model, schema)).predict_columns(
        columns_of(holdout, schema)
    )
    if task == "classification":
        assert list(labels) == list(model.predict(holdout)) == list(expected_labels)
        assert probabilities is not None and expected_probabilities is not None
        assert np.max(np.abs(probabilities - expected_probabilities)) <= onnx_export.PROBABILITY_TOLERANCE
    else:
        assert probabilities is None
        assert np.allclose(labels, expected_labels, rtol=onnx_export.REGRESSION_TOLERANCE)


XGBOOST_CASES = [  # (task, target column, its labels): binary and multiclass text labels (EncodedLabels), values
    ("classification", "churned", ["no", "yes"]),
    ("classification", "plan", ["basic", "enterprise", "pro"]),
    ("regression", "lifetime_spend", []),
]


def fitted_on(target: str, task: str, family: str, **params):
    """customers.csv with ``target`` as the target (the other targets are features), split like ``split``."""
    table = pd.read_csv(FIXTURES / "customers.csv").drop(columns=["customer_id"])
    schema = features.infer(table, target, task)
    X = features.conform(table, schema)
    model = search.pipeline_for(Trial(family, params), schema, seed=0).fit(X.iloc[:160], table[target].iloc[:160])
    return model, X.iloc[160:], schema


@pytest.mark.parametrize(("task", "target", "labels"), XGBOOST_CASES)
def test_xgboost_exports_with_parity_held_and_is_served_by_onnxruntime(task: str, target: str, labels) -> None:
    pytest.importorskip("xgboost")
    # given an XGBoost pipeline (imputers, one-hot encoder, XGBoost; text labels through its label encoder)
    model, holdout, schema = fitted_on(target, task, "xgboost", n_estimators=40, max_depth=4)
    assert list(schema.classes) == labels
    assert holdout["region"].isna().any()
    # when it is exported and checked
    export = onnx_export.export_checked(model, schema, holdout)
    # then parity held on every holdout row, and the ONNX model answers in the original labels
    assert export.usable, export.reason
    assert export.parity is not None and export.parity.held and export.parity.rows == len(holdout)
    onnx = OnnxRuntime(export.onnx.SerializeToString(), schema)
    assert onnx.name == "onnxruntime"
    columns = columns_of(holdout, schema)
    values, probabilities = served(onnx).predict_columns(columns)
    expected_values, expected_probabilities = served(SklearnRuntime(model, schema)).predict_columns(columns)
    if task == "classification":
        assert export.parity.labels_equal
        assert list(values) == list(model.predict(holdout)) == list(expected_values)
        assert probabilities is not None and expected_probabilities is not None
        assert np.max(np.abs(probabilities - expected_probabilities)) <= onnx_export.PROBABILITY_TOLERANCE
        session = onnx_export.session(export.onnx.SerializeToString())
        onnx_labels = session.run(None, onnx_export.feed(session, columns, schema))[0]
        assert list(onnx_labels) == list(model.predict(holdout))  # the edge artifact's own `label` output
    else:
        assert probabilities is None
        assert np.allclose(values, expected_values, rtol=onnx_export.REGRESSION_TOLERANCE)


def test_xgboost_behind_scaled_numbers_falls_back_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("xgboost")
    # given an XGBoost classifier trained on scaled numbers (the preprocessing of the other families)
    model, holdout, schema = fitted_on("churned", "classification", "xgboost", n_estimators=40, max_depth=4)
    X = features.conform(pd.read_csv(FIXTURES / "customers.csv"), schema).iloc[:160]
    y = pd.read_csv(FIXTURES / "customers.csv")["churned"].iloc[:160]
    model.steps[0] = ("preprocess", features.preprocessor(schema, scale=True))
    model.fit(X, y)
    # when it is exported: its thresholds sit on training values, which float32 scaling moves across
    with caplog.at_level(logging.INFO, logger=onnx_export.__name__):
        export = onnx_export.export_checked(model, schema, holdout)
    # then parity failed, scikit-learn serves it, and one log line says why
    assert not export.usable and export.parity is not None and not export.parity.held
    lines = [r.getMessage() for r in caplog.records if r.name == onnx_export.__name__]
    assert len(lines) == 1 and "parity failed" in lines[0] and "scikit-learn" in lines[0]


def test_a_family_that_does_not_convert_falls_back_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    # given a model family skl2onnx has no converter for
    model, holdout, schema = fitted("dummy", "classification")
    # when it is exported
    with caplog.at_level(logging.INFO, logger=onnx_export.__name__):
        export = onnx_export.export_checked(model, schema, holdout)
    # then nothing is usable, and one log line says why, naming the estimator
    assert not export.usable and export.onnx is None and export.parity is None
    lines = [r.getMessage() for r in caplog.records if r.name == onnx_export.__name__]
    assert len(lines) == 1 and "DummyClassifier" in lines[0] and "scikit-learn" in lines[0]
    assert "DummyClassifier" in export.reason


def test_parity_fails_when_the_onnx_answers_differ(caplog: pytest.LogCaptureFixture) -> None:
    # given the ONNX export of one model, checked against another one (a weakly regularised logistic regression)
    model, holdout, schema = fitted("logistic_regression", "classification")
    other, _, _ = fitted("logistic_regression", "classification", C=0.001)
    onnx = onnx_export.export(model, schema)
    # when parity is checked
    parity = onnx_export.check_parity(other, onnx, holdout, schema)
    # then it fails, and the detail says by how much
    assert not parity.held
    assert parity.max_difference > onnx_export.PROBABILITY_TOLERANCE
    assert parity.tags()["onnx.parity"] == "failed"
    assert f"{len(holdout)} holdout rows" in parity.detail


def test_records_give_the_same_answers_as_the_conformed_frame() -> None:
    # given validated records as the service gets them (None for missing, empty text is missing too)
    model, holdout, schema = fitted("logistic_regression", "classification")
    onnx = OnnxRuntime(onnx_export.export(model, schema).SerializeToString(), schema)
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in holdout.to_dict("records")]
    records[0]["region"] = ""
    # when both runtimes answer them without a DataFrame (onnxruntime) and from the conformed frame
    frame = features.conform(pd.DataFrame(records), schema)
    from_records = served(onnx).predict_columns(
        columns_of_rows([[r[name] for name in schema.names] for r in records], schema)
    )
    from_frame = served(SklearnRuntime(model, schema)).predict_columns(columns_of(frame, schema))
    # then the labels are the same and the probabilities within the tolerance
    assert list(from_records[0]) == list(from_frame[0])
    assert from_records[1] is not None and from_frame[1] is not None
    assert np.max(np.abs(from_records[1] - from_frame[1])) <= onnx_export.PROBABILITY_TOLERANCE


def test_the_onnx_runtime_pickles_as_its_model(tmp_path) -> None:
    # given an onnxruntime session (Spark broadcasts the served model to its executors)
    model, holdout, schema = fitted("logistic_regression", "classification")
    onnx = OnnxRuntime(onnx_export.export(model, schema).SerializeToString(), schema)
    # when it is pickled and loaded again
    again = pickle.loads(pickle.dumps(onnx))
    # then it answers the same
    columns = columns_of(holdout, schema)
    before, after = onnx.outputs(columns), again.outputs(columns)
    assert np.array_equal(after, before)


def test_xgboost_without_onnxmltools_falls_back_with_one_log_line(monkeypatch, caplog) -> None:
    pytest.importorskip("xgboost")
    # given an XGBoost pipeline in an environment without onnxmltools (its converter)
    model, holdout, schema = fitted_on("churned", "classification", "xgboost", n_estimators=10)
    for name in [n for n in sys.modules if n.startswith("onnxmltools")] + ["onnxmltools"]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it (or any of its modules) raises ImportError
    onnx_export._register_xgboost.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger=onnx_export.__name__):
            export = onnx_export.export_checked(model, schema, holdout)
    finally:
        onnx_export._register_xgboost.cache_clear()
    # then nothing is usable, and one log line says what is missing
    assert not export.usable and export.onnx is None
    lines = [r.getMessage() for r in caplog.records if r.name == onnx_export.__name__]
    assert len(lines) == 1 and "onnxmltools" in lines[0] and "scikit-learn" in lines[0]


@pytest.mark.slow
def test_an_xgboost_champion_is_registered_with_its_onnx_export_and_served_by_onnxruntime(
    tmp_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytest.importorskip("xgboost")
    session_bentoml_home(tmp_path_factory)  # the session's BentoML store (BentoML reads BENTOML_HOME once)
    # given a project whose search tries XGBoost only, run through registration on the CPU
    params = yaml.safe_load((tmp_project / "params.yaml").read_text())
    params["train"]["device"] = "cpu"
    params["train"]["search"]["candidates"] = [
        {"family": "xgboost", "params": {"n_estimators": [40], "max_depth": [3]}}
    ]
    run_pipeline(write_params(tmp_project, params))
    # then registration exported it with parity held
    report = Registration.load(Path("reports/registration.json"))
    assert report.promoted is True and report.onnx.parity == "held", report.onnx
    # and the champion, imported into the BentoML store, is served by onnxruntime with scikit-learn's answers
    stored = serving.import_champion(config.load("params.yaml"))
    served = serving.load(stored)
    assert served.runtime_name == serving.planned_runtime(stored) == "onnxruntime"
    holdout = config.load("params.yaml").paths.holdout
    rows = features.conform(pd.read_parquet(tmp_project / holdout), served.schema)
    labels, probabilities = served.predict(rows)
    expected, expected_probabilities = serving.load(stored, runtime="scikit-learn").predict(rows)
    assert list(labels) == list(expected)
    if probabilities is not None:
        assert np.max(np.abs(probabilities - expected_probabilities)) <= onnx_export.PROBABILITY_TOLERANCE
