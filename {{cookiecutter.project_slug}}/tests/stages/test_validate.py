"""validate: a drafted suite passes on its data; corrupted data fails with a readable summary."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.core.reports import Validation
from {{ cookiecutter.package_name }}.data.checks import ValidationFailed
from {{ cookiecutter.package_name }}.data.suite import GX_ROOT, suite_path
from {{ cookiecutter.package_name }}.stages import ingest, validate

from ..helpers import PATHS


@pytest.fixture
def drafted(tmp_project, cfg):
    ingest.run(cfg)
    validate.init(cfg)
    return cfg


def test_drafting_twice_gives_the_same_file(drafted) -> None:
    path = suite_path(drafted.validate_.suite)
    first = path.read_text()
    validate.init(drafted)
    assert path.read_text() == first
    suite = json.loads(first)
    assert suite["id"] and all(e["id"] for e in suite["expectations"])


def test_the_data_it_was_drafted_from_passes(drafted) -> None:
    summary = validate.run(drafted)
    assert summary.success is True
    assert summary.failures == []
    assert Validation.load(PATHS.validation) == summary
    assert (GX_ROOT / "gx/uncommitted/data_docs/local_site/index.html").exists()


def test_corrupted_data_stops_with_what_where_and_how_many(drafted) -> None:
    frame = pd.read_parquet(PATHS.raw)
    frame.loc[:9, "tenure_months"] = -500
    frame.loc[:4, "plan"] = "free-trial"
    frame.to_parquet(PATHS.raw, index=False)

    with pytest.raises(ValidationFailed) as failed:
        validate.run(drafted)

    message = str(failed.value)
    assert "FAILED" in message
    assert "column 'tenure_months': 10 of" in message and "outside the bound between 0.0 and" in message
    assert "-500 (row 1)" in message
    assert "column 'plan': 5 of" in message and "not in the suite's value set, e.g. 'free-trial' (row 1)" in message
    report = Validation.load(PATHS.validation)
    assert report.success is False
    assert {f.column for f in report.failures} == {"tenure_months", "plan"}


def test_a_missing_suite_says_how_to_draft_one(tmp_project, cfg) -> None:
    ingest.run(cfg)
    suite_path(cfg.validate_.suite).unlink()
    with pytest.raises(UserError, match="validate --init"):
        validate.run(cfg)


def test_the_duplicate_check_catches_every_row_repeated(drafted) -> None:
    frame = pd.read_parquet(PATHS.raw)
    pd.concat([frame] * 10, ignore_index=True).to_parquet(PATHS.raw, index=False)
    with pytest.raises(ValidationFailed) as failed:
        validate.run(drafted)
    rows = 10 * len(frame)
    assert f"table: {rows} of {rows} rows (100.0%) are exact duplicates of another row (allowed: up to 2.0%)" in str(
        failed.value
    )


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda f: f.drop(columns=["plan"]), "table: missing column(s) 'plan'"),
        (lambda f: f.assign(note="x"), "table: extra column(s) 'note' not in the suite"),
        (lambda f: f.head(10), "table: 10 rows, the suite expects between"),
        (
            lambda f: f.assign(tenure_months=f["tenure_months"].astype(str).where(f.index != 6, "ten")),
            "column 'tenure_months': expected numbers, found text in 1 row(s), e.g. 'ten' in row 7",
        ),
    ],
)
def test_each_failure_names_the_column_bound_value_and_row(drafted, break_it, expected) -> None:
    break_it(pd.read_parquet(PATHS.raw)).to_parquet(PATHS.raw, index=False)
    with pytest.raises(ValidationFailed) as failed:
        validate.run(drafted)
    assert expected in str(failed.value)
    assert "observed None" not in str(failed.value)
