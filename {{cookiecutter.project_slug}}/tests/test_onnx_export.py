"""The fast path's export: the whole pipeline to ONNX, checked against scikit-learn before anything serves it."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import features, onnx_export, search
from {{ cookiecutter.package_name }}.search import Trial
from {{ cookiecutter.package_name }}.serving.runtime import OnnxRuntime, SklearnRuntime, columns_of, columns_of_records

from .conftest import DATA, TARGETS

DEFAULT_FAMILIES = [  # params.yaml's candidates for each task
    ("classification", "logistic_regression"),
    ("classification", "hist_gradient_boosting"),
    ("regression", "ridge"),
    ("regression", "hist_gradient_boosting"),
]


def split(task: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, features.Schema]:
    """customers.csv (text categories, missing values) split into training rows and holdout rows, conformed."""
    table = pd.read_csv(DATA / "customers.csv").drop(columns=["customer_id"])
    target, other = TARGETS[task], TARGETS["regression" if task == "classification" else "classification"]
    table = table.drop(columns=[other])
    schema = features.infer(table, target, task)
    X = features.conform(table, schema)
    return X.iloc[:160], table[target].iloc[:160], X.iloc[160:], schema


def fitted(family: str, task: str, **params):
    X, y, holdout, schema = split(task)
    model = search.pipeline_for(Trial(family, params), schema, seed=0).fit(X, y)
    return model, holdout, schema


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
    labels, probabilities = onnx.predict(columns_of(holdout, schema))
    expected_labels, expected_probabilities = SklearnRuntime(model, schema).predict(columns_of(holdout, schema))
    if task == "classification":
        assert list(labels) == list(model.predict(holdout)) == list(expected_labels)
        assert probabilities is not None and expected_probabilities is not None
        assert np.max(np.abs(probabilities - expected_probabilities)) <= onnx_export.PROBABILITY_TOLERANCE
    else:
        assert probabilities is None
        assert np.allclose(labels, expected_labels, rtol=onnx_export.REGRESSION_TOLERANCE)


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
    from_records = onnx.predict(columns_of_records(records, schema))
    from_frame = SklearnRuntime(model, schema).predict(columns_of(frame, schema))
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
    before, after = onnx.predict(columns)[1], again.predict(columns)[1]
    assert before is not None and after is not None and np.array_equal(after, before)
