"""The rows prepare hands on: a seeded, stratified split; rows without a target are dropped (data/split.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.data import split

from ..helpers import FIXTURES


def table() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "customers.csv")


def test_the_split_is_reproducible_and_disjoint() -> None:
    first = split.split(table(), "churned", test_size=0.25, seed=1, stratify=True)
    again = split.split(table(), "churned", test_size=0.25, seed=1, stratify=True)
    assert first[1]["customer_id"].tolist() == again[1]["customer_id"].tolist()
    assert not set(first[0]["customer_id"]) & set(first[1]["customer_id"])
    assert len(first[1]) == 60


def test_stratification_keeps_the_class_balance() -> None:
    train, test = split.split(table(), "churned", test_size=0.25, seed=3, stratify=True)
    assert abs((train["churned"] == "yes").mean() - (test["churned"] == "yes").mean()) < 0.02


def test_rows_without_a_target_are_dropped() -> None:
    frame = table()
    frame.loc[:9, "churned"] = np.nan
    train, test = split.split(frame, "churned", test_size=0.25, seed=1, stratify=True)
    assert len(train) + len(test) == len(frame) - 10


def test_a_class_with_one_row_cannot_be_stratified_and_says_what_to_do() -> None:
    frame = table()
    frame.loc[0, "churned"] = "maybe"
    with pytest.raises(UserError, match=r"prepare.stratify: class\(es\) 'maybe' of 'churned' have a single row"):
        split.split(frame, "churned", test_size=0.25, seed=1, stratify=True)


def test_a_target_without_any_value_is_one_clear_error() -> None:
    frame = table()
    frame["churned"] = None
    with pytest.raises(UserError, match="no row has a value in the target column 'churned'"):
        split.split(frame, "churned", test_size=0.25, seed=1, stratify=False)
