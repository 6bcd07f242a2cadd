"""The ensemble's ONNX export: each member pipeline converted on the same inputs, their outputs averaged by weight,
checked against scikit-learn like any model; what does not convert falls back to scikit-learn with one log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.decision import Threshold
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.serving.edge import known_values
from {{ cookiecutter.package_name }}.serving.runtime import OnnxRuntime, SklearnRuntime, columns_of
from {{ cookiecutter.package_name }}.tracking import model_files, runs
from {{ cookiecutter.package_name }}.training import ensemble, features, models, onnx_export, threshold
from {{ cookiecutter.package_name }}.training.search import Trial, TrialResult

from ..helpers import FIXTURES

CASES = [  # (task, target, members as (family, weight)): text labels, binary and three classes; values
    ("classification", "churned", [("logistic_regression", 2), ("hist_gradient_boosting", 1), ("random_forest", 1)]),
    ("classification", "plan", [("logistic_regression", 1), ("extra_trees", 1)]),
    ("regression", "lifetime_spend", [("ridge", 1), ("hist_gradient_boosting", 3)]),
]


def fitted_ensemble(task: str, target: str, members: list[tuple[str, int]]) -> tuple[Any, pd.DataFrame, Schema]:
    """customers.csv (text categories, missing values) with ``target`` as the target: the ensemble train would
    refit for these members and weights (behind a tuned threshold where the target is binary), fitted on the first
    160 rows; the rest as holdout."""
    table = pd.read_csv(FIXTURES / "customers.csv").drop(columns=["customer_id"]).dropna(subset=[target])
    schema = features.infer(table, target, task)
    X = features.conform(table, schema)
    trials = tuple(TrialResult(Trial(family, {}), 0.0, 0.0, 0.0) for family, _ in members)
    chosen = ensemble.Ensemble(trials, tuple(w for _, w in members), 0.0, (), 0.0, np.empty(0))
    rule = Threshold(0.35, "f1") if len(schema.classes) == 2 else None
    model = threshold.wrap(chosen.model(schema, seed=0), schema, rule).fit(X.iloc[:160], table[target].iloc[:160])
    return model, X.iloc[160:], schema.with_threshold(rule)


@pytest.mark.parametrize(("task", "target", "members"), CASES)
def test_an_ensemble_of_pipelines_exports_with_parity_held(task: str, target: str, members) -> None:
    # given an ensemble (behind a tuned threshold where the target is binary) and holdout rows with missing cells
    model, holdout, schema = fitted_ensemble(task, target, members)
    assert holdout["region"].isna().any() and holdout["monthly_fee"].isna().any()
    # when it is exported and checked
    export = onnx_export.export_checked(model, schema, holdout)
    # then parity held, and onnxruntime answers as scikit-learn does, row for row
    assert export.usable, export.reason
    assert export.parity is not None and export.parity.held and export.parity.rows == len(holdout)
    columns = columns_of(holdout, schema)
    found = OnnxRuntime(export.onnx.SerializeToString(), schema).outputs(columns)
    expected = SklearnRuntime(model, schema).outputs(columns)
    tolerance = onnx_export.PROBABILITY_TOLERANCE if task == "classification" else onnx_export.REGRESSION_TOLERANCE
    assert np.allclose(found, expected, rtol=0 if task == "classification" else tolerance, atol=tolerance)
    if len(schema.classes) > 2:  # the model's own label output (the edge bundle's): the most probable class
        session = onnx_export.session(export.onnx.SerializeToString())
        labels = session.run(None, onnx_export.feed(session, columns, schema))[0]
        assert list(labels) == list(model.predict(holdout))


def test_an_ensemble_with_a_member_that_does_not_convert_falls_back_with_one_log_line(caplog) -> None:
    # given an ensemble with a member skl2onnx has no converter for
    model, holdout, schema = fitted_ensemble("classification", "churned", [("logistic_regression", 1), ("dummy", 1)])
    # when it is exported
    with caplog.at_level(logging.INFO, logger=onnx_export.__name__):
        export = onnx_export.export_checked(model, schema, holdout)
    # then scikit-learn serves it, and one log line says why, naming the ensemble and the member
    assert not export.usable and export.onnx is None
    lines = [r.getMessage() for r in caplog.records if r.name == onnx_export.__name__]
    assert len(lines) == 1 and "scikit-learn" in lines[0]
    assert "VotingClassifier" in lines[0] and "DummyClassifier" in lines[0]


@pytest.mark.parametrize(("task", "target", "members"), CASES[::2])
def test_an_ensemble_loads_with_trusted_types_and_hands_out_its_members(
    task: str, target: str, members, tmp_path: Path
) -> None:
    # given an ensemble as train logs it
    model, holdout, schema = fitted_ensemble(task, target, members)
    # then what skops must trust to load it is in the list in code (train refuses to log it otherwise), and the
    # loader serving uses rebuilds it with the same answers
    types = runs.skops_types(model)
    assert set(types) <= model_files.TRUSTED_TYPES, types
    mlflow.sklearn.save_model(model, tmp_path / "model", serialization_format="skops", skops_trusted_types=types)
    loaded = model_files.load_sklearn(tmp_path / "model")
    columns = columns_of(holdout, schema)
    assert np.array_equal(
        SklearnRuntime(loaded, schema).outputs(columns), SklearnRuntime(model, schema).outputs(columns)
    )
    # and its member pipelines are handed out (the ONNX export, the device switch, the edge bundle walk them)
    assert [type(m).__name__ for m in models.members(model)] == ["Pipeline"] * len(members)
    assert models.on_cpu(model) is model
    # and the edge bundle knows each text column's values from them
    region = sorted(holdout["region"].dropna().unique())
    assert set(region) <= set(known_values(model, schema)["region"])
