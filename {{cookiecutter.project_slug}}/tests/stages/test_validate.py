"""validate: a drafted suite passes on its data; corrupted data fails with a readable summary."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.stages import ingest, validate


@pytest.fixture
def drafted(tmp_project, cfg):
    ingest.run(cfg)
    validate.init(cfg)
    return cfg


def test_drafting_twice_gives_the_same_file(drafted) -> None:
    path = validate.suite_path(drafted.validate_.suite)
    first = path.read_text()
    validate.init(drafted)
    assert path.read_text() == first
    suite = json.loads(first)
    assert suite["id"] and all(e["id"] for e in suite["expectations"])


def test_the_data_it_was_drafted_from_passes(drafted) -> None:
    summary = validate.run(drafted)
    assert summary["success"] is True
    assert summary["failures"] == []
    assert json.loads(validate.REPORT.read_text())["success"] is True
    assert (validate.GX_ROOT / "gx/uncommitted/data_docs/local_site/index.html").exists()


def test_corrupted_data_stops_with_what_where_and_how_many(drafted) -> None:
    frame = pd.read_parquet(ingest.OUTPUT)
    frame.loc[:9, "tenure_months"] = -500
    frame.loc[:4, "plan"] = "free-trial"
    frame.to_parquet(ingest.OUTPUT, index=False)

    with pytest.raises(validate.ValidationFailed) as failed:
        validate.run(drafted)

    message = str(failed.value)
    assert "FAILED" in message
    assert "expect_column_values_to_be_between on column 'tenure_months': 10 of" in message
    assert "expect_column_values_to_be_in_set on column 'plan': 5 of" in message
    report = json.loads(validate.REPORT.read_text())
    assert report["success"] is False
    assert {f["column"] for f in report["failures"]} == {"tenure_months", "plan"}


def test_a_missing_suite_says_how_to_draft_one(tmp_project, cfg) -> None:
    ingest.run(cfg)
    validate.suite_path(cfg.validate_.suite).unlink()
    with pytest.raises(FileNotFoundError, match="validate --init"):
        validate.run(cfg)
