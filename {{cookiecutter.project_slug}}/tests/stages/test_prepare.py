"""prepare: a seeded, stratified split; rows without a target are dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.stages import prepare

from ..conftest import DATA


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
    assert (prepare.OUT / "features.json").exists()
    assert schema.target == cfg.ingest.target
    assert "plan" in schema.of_kind("categorical")
