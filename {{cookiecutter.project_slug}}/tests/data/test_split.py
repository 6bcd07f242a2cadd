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


def events() -> pd.DataFrame:
    """Customers' rows under event ids; a third of the events repeat another's features under a new id."""
    frame = table().drop(columns=["lifetime_spend"]).rename(columns={"customer_id": "event_id"})
    copies = frame.sample(frac=0.35, random_state=2).assign(event_id=lambda f: f["event_id"] + "-again")
    return pd.concat([frame, copies], ignore_index=True)


FEATURES = ["plan", "region", "tenure_months", "monthly_fee", "support_calls"]


def test_rows_with_identical_features_stay_and_land_on_one_side() -> None:
    frame = events()
    train, test = split.split(frame, "churned", test_size=0.25, seed=1, stratify=True, group_on=FEATURES)
    assert len(train) + len(test) == len(frame.dropna(subset=["churned"])), "identical features, other ids: all stay"
    keys = [pd.util.hash_pandas_object(part[FEATURES], index=False) for part in (train, test)]
    assert not set(keys[0]) & set(keys[1]), "no feature row is on both sides"
    assert 0.2 < len(test) / (len(train) + len(test)) < 0.3
    assert abs((train["churned"] == "yes").mean() - (test["churned"] == "yes").mean()) < 0.05
    again = split.split(frame, "churned", test_size=0.25, seed=1, stratify=True, group_on=FEATURES)
    assert again[1]["event_id"].tolist() == test["event_id"].tolist()


def test_without_grouping_identical_features_straddle_the_split() -> None:
    # the failure the grouping prevents: the plain split puts copies on both sides
    train, test = split.split(events(), "churned", test_size=0.25, seed=1, stratify=True)
    keys = [pd.util.hash_pandas_object(part[FEATURES], index=False) for part in (train, test)]
    assert set(keys[0]) & set(keys[1])


def test_exact_duplicates_are_judged_on_the_whole_row_ids_included() -> None:
    frame = events()
    doubled = pd.concat([frame, frame.head(7)], ignore_index=True)
    unique, removed = split.deduplicate(doubled)
    assert removed == 7, "only whole-row copies go; same features under another id stay"
    assert len(unique) == len(frame)
