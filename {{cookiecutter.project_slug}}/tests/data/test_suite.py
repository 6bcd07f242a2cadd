"""Drafting the suite from the data: a starting point a person would keep (data/suite.py)."""

from __future__ import annotations

import json

import pandas as pd

from {{ cookiecutter.package_name }}.data import suite


def drafted_kinds(frame: pd.DataFrame) -> dict[tuple[str, str | None], dict]:
    return {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite.draft_expectations(frame)}


def test_a_drafted_suite_is_one_a_person_would_keep() -> None:
    frame = pd.DataFrame(
        {
            "year": [2007, 2008, 2009, 2008] * 25,
            "area": [100.0, 250.5, 2501.0, 143.9] * 25,
            "delta": [-3.0, 4.5, 0.0, 1.0] * 25,
            "plan": ["a", "b", None, "a"] * 25,
        }
    )
    frame.loc[0, "delta"] = 7.0  # a few distinct rows, the rest duplicates
    found = drafted_kinds(frame)
    assert found[("expect_table_row_count_to_be_between", None)] == {"min_value": 50, "max_value": 1000}
    assert found[("expect_column_values_to_be_in_set", "year")]["value_set"] == [2007, 2008, 2009]
    assert ("expect_column_values_to_be_between", "year") not in found, "few-valued integers are a set, not a range"
    area = found[("expect_column_values_to_be_between", "area")]
    assert area["min_value"] == 0.0, "a range never crosses a zero the data never crossed"
    assert area["max_value"] > 2501.0
    assert found[("expect_column_values_to_be_between", "delta")]["min_value"] < -3.0
    assert found[("expect_column_values_to_be_in_type_list", "area")]["type_list"] == suite.NUMERIC_TYPES
    assert found[("expect_column_values_to_not_be_null", "plan")]["mostly"] == 0.5
    assert found[("expect_column_values_to_not_be_null", "year")] == {"column": "year"}
    duplicates = found[("expect_compound_columns_to_be_unique", None)]
    assert duplicates["column_list"] == ["year", "area", "delta", "plan"]
    assert duplicates["mostly"] == 0.0  # this table is almost all duplicates: the draft tolerates what it saw


def test_a_redraft_keeps_the_reviewed_checks_of_the_columns_that_stay(tmp_path) -> None:
    # Given a drafted suite whose bounds a person reviewed (tightened area's range by hand)
    frame = pd.DataFrame({"id": range(100), "area": [10.5, 20.25] * 50, "plan": ["a", "b"] * 50, "y": [0, 1] * 50})
    path = suite.write_suite(frame, "mine", tmp_path)
    reviewed = json.loads(path.read_text())
    for expectation in reviewed["expectations"]:
        if expectation["kwargs"].get("column") == "area" and "max_value" in expectation["kwargs"]:
            expectation["kwargs"]["max_value"] = 25.0
    path.write_text(json.dumps(reviewed))
    # When the user changes their mind: id dropped, a new column added
    changed = frame.drop(columns=["id"]).assign(region=["n", "s"] * 50)
    _, added, removed = suite.redraft(changed, "mine", tmp_path)
    # Then the suite checks the new columns, keeps the reviewed bound, and nothing of the dropped column
    assert (added, removed) == (["region"], ["id"])
    expectations = json.loads(path.read_text())["expectations"]
    kinds = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in expectations}
    assert kinds[("expect_table_columns_to_match_set", None)]["column_set"] == ["area", "plan", "y", "region"]
    assert kinds[("expect_column_values_to_be_between", "area")]["max_value"] == 25.0, "the reviewed bound is kept"
    assert kinds[("expect_column_values_to_be_in_set", "region")]["value_set"] == ["n", "s"]
    assert not [e for e in expectations if e["kwargs"].get("column") == "id"]
    assert kinds[("expect_compound_columns_to_be_unique", None)]["column_list"] == ["area", "plan", "y", "region"]
    assert len(expectations) == len({(e["type"], e["kwargs"].get("column")) for e in expectations}), "no check twice"
