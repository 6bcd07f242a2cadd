"""prepare: a seeded, stratified split; rows without a target are dropped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import UserError
from {{ cookiecutter.package_name }}.stages import prepare

from ..conftest import DATA, PATHS


def table() -> pd.DataFrame:
    return pd.read_csv(DATA / "customers.csv")


def test_the_split_is_reproducible_and_disjoint() -> None:
    first = prepare.split(table(), "churned", test_size=0.25, seed=1, stratify=True)
    again = prepare.split(table(), "churned", test_size=0.25, seed=1, stratify=True)
    assert first[1]["customer_id"].tolist() == again[1]["customer_id"].tolist()
    assert not set(first[0]["customer_id"]) & set(first[1]["customer_id"])
    assert len(first[1]) == 60


def test_stratification_keeps_the_class_balance() -> None:
    train, test = prepare.split(table(), "churned", test_size=0.25, seed=3, stratify=True)
    assert abs((train["churned"] == "yes").mean() - (test["churned"] == "yes").mean()) < 0.02


def test_rows_without_a_target_are_dropped() -> None:
    frame = table()
    frame.loc[:9, "churned"] = np.nan
    train, test = prepare.split(frame, "churned", test_size=0.25, seed=1, stratify=True)
    assert len(train) + len(test) == len(frame) - 10


def test_run_writes_the_split_and_the_schema(tmp_project, cfg) -> None:
    from {{ cookiecutter.package_name }}.stages import ingest

    ingest.run(cfg)
    schema = prepare.run(cfg)
    assert (PATHS.features).exists()
    assert schema.target == cfg.ingest.target
    assert "plan" in schema.of_kind("categorical")


def test_duplicates_are_removed_before_the_split_so_none_straddles_it(tmp_project, cfg) -> None:
    from {{ cookiecutter.package_name }}.stages import ingest

    frame = ingest.run(cfg)
    pd.concat([frame] * 3, ignore_index=True).to_parquet(PATHS.raw, index=False)
    prepare.run(cfg)
    train = pd.read_parquet(PATHS.train)
    test = pd.read_parquet(PATHS.holdout)
    unique = frame.drop_duplicates()
    assert len(train) + len(test) <= len(unique)
    assert train.merge(test, how="inner").empty, "no row is in both train and holdout"
    counts = json.loads(PATHS.prepared.read_text())
    assert counts["rows_in"] == 3 * len(frame)
    assert counts["duplicates_removed"] == 3 * len(frame) - len(unique)


def test_a_class_with_one_row_cannot_be_stratified_and_says_what_to_do() -> None:
    frame = table()
    frame.loc[0, "churned"] = "maybe"
    with pytest.raises(UserError, match=r"prepare.stratify: class\(es\) 'maybe' of 'churned' have a single row"):
        prepare.split(frame, "churned", test_size=0.25, seed=1, stratify=True)


def test_a_target_without_any_value_is_one_clear_error() -> None:
    frame = table()
    frame["churned"] = None
    with pytest.raises(UserError, match="no row has a value in the target column 'churned'"):
        prepare.split(frame, "churned", test_size=0.25, seed=1, stratify=False)
