"""The feature schema and preprocessing handle categorical text and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.training import features

from ..helpers import FIXTURES


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "customers.csv").drop(columns=["customer_id", "lifetime_spend"])


def test_infer_splits_numeric_and_categorical(table: pd.DataFrame) -> None:
    schema = features.infer(table, "churned", "classification")
    assert schema.of_kind("categorical") == ["plan", "region"]
    assert schema.of_kind("numeric") == ["tenure_months", "monthly_fee", "support_calls"]
    assert schema.classes == ("no", "yes")


def test_schema_round_trips_through_json(table: pd.DataFrame, tmp_path) -> None:
    schema = features.infer(table, "churned", "classification")
    schema.save(tmp_path / "features.json")
    assert Schema.load(tmp_path / "features.json") == schema


def test_preprocessor_imputes_and_ignores_unknown_categories(table: pd.DataFrame) -> None:
    schema = features.infer(table, "churned", "classification")
    X = features.conform(table, schema)
    assert X["region"].isna().sum() == table["region"].isna().sum() > 0
    transform = features.preprocessor(schema).fit(X)
    unseen = X.head(3).copy()
    unseen.loc[:, "plan"] = "platinum"
    unseen.loc[:, "monthly_fee"] = np.nan
    out = transform.transform(unseen)
    assert not np.isnan(out).any()
    assert out.shape[1] == 3 + 3 + 4  # numbers + one-hot plan + one-hot region


def test_conform_orders_columns_and_names_what_is_missing(table: pd.DataFrame) -> None:
    schema = features.infer(table, "churned", "classification")
    shuffled = table[list(reversed(table.columns))]
    assert list(features.conform(shuffled, schema).columns) == schema.names
    with pytest.raises(features.SchemaMismatch, match="monthly_fee"):
        features.conform(table.drop(columns=["monthly_fee"]), schema)
