"""What a failed suite means, in lines a person can act on: which column or bound, which value, which row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.reports import Failure, Validation


def _bounds(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _row(index: Any) -> Any:
    """Rows are counted from 1, the first row after a CSV's header."""
    return index + 1 if isinstance(index, int) else index


def _rows(failure: Failure) -> str:
    """Each distinct offending value once, with the first row it is in."""
    rows = list(failure.rows) + [None] * len(failure.examples)
    first: dict[str, Any] = {}
    for value, row in zip(failure.examples, rows, strict=False):
        first.setdefault(repr(value), row)
    return ", ".join(k if r is None else f"{k} (row {_row(r)})" for k, r in first.items())


def explain(failure: Failure) -> str:
    """One line a person can act on: which column or bound, which value, which row."""
    kind, kwargs = failure.expectation, failure.kwargs
    column = failure.column
    share = (
        f"{failure.unexpected_count} of {failure.element_count} rows ({failure.unexpected_percent or 0.0:.1f}%)"
        if failure.unexpected_count is not None
        else ""
    )
    allowed = f" (allowed: up to {100 * (1 - kwargs['mostly']):.1f}%)" if kwargs.get("mostly") is not None else ""
    if kind == "expect_table_columns_to_match_set":
        mismatched = failure.mismatched or {}
        missing, extra = mismatched.get("missing") or [], mismatched.get("unexpected") or []
        if not mismatched:
            expected = set(kwargs.get("column_set") or [])
            seen = set(failure.observed or [])
            missing, extra = sorted(expected - seen), sorted(seen - expected)
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"extra column(s) {', '.join(map(repr, extra))} not in the suite")
        return "table: " + "; ".join(parts or ["columns differ from the suite"])
    if kind == "expect_table_row_count_to_be_between":
        return f"table: {failure.observed} rows, the suite expects {_bounds(kwargs)}"
    if kind == "expect_compound_columns_to_be_unique":
        if failure.error or failure.unexpected_count is None:
            return "table: duplicate rows not checked (a column of the suite is missing)"
        return f"table: {share} are exact duplicates of another row{allowed}"
    where = f"column {column!r}"
    if failure.offending:
        return f"{where}: {failure.offending}"
    if failure.error:
        return f"{where}: could not be checked: {failure.error}"
    if kind == "expect_column_values_to_not_be_null":
        return f"{where}: {share} are missing{allowed}"
    if kind == "expect_column_values_to_be_between":
        return f"{where}: {share} outside the bound {_bounds(kwargs)}, e.g. {_rows(failure)}"
    if kind == "expect_column_values_to_be_in_set":
        return f"{where}: {share} not in the suite's value set, e.g. {_rows(failure)}"
    if kind == "expect_column_values_to_be_in_type_list":
        return f"{where}: type {failure.observed} is not numeric"
    if failure.unexpected_count is not None:
        return f"{where}: {kind}: {share} unexpected, e.g. {_rows(failure)}"
    return f"{where}: {kind}: observed {failure.observed}"


ORDER = {  # the most telling failure first
    "expect_table_columns_to_match_set": 0,
    "expect_table_row_count_to_be_between": 1,
    "expect_compound_columns_to_be_unique": 2,
    "expect_column_values_to_be_in_type_list": 3,
    "expect_column_values_to_not_be_null": 4,
}


def _offending(failure: Failure, frame: pd.DataFrame) -> tuple[str | None, bool]:
    """For a numeric column's type check: the first text value and its row, or that every value is empty; and
    whether the column holds text."""
    column = failure.column
    if failure.expectation != "expect_column_values_to_be_in_type_list" or column is None or column not in frame:
        return None, False
    values = frame[column]
    bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        found = f"expected numbers, found text in {int(bad.sum())} row(s), e.g. {values.iloc[row]!r} in row {row + 1}"
        return found, True
    if values.isna().all():
        return f"expected numbers, but every value is empty (type {failure.observed})", False
    return None, False


def locate(summary: Validation, frame: pd.DataFrame) -> Validation:
    """Add what the library leaves out: the first offending value and its row for a numeric column holding text,
    and a plain reason for checks that could not run on a column that is missing or holds text."""
    failures = []
    text_in = set()
    for failure in summary.failures:
        offending, holds_text = _offending(failure, frame)
        if offending is not None:
            failure = failure.model_copy(update={"offending": offending})
        if holds_text:
            text_in.add(failure.column)
        failures.append(failure)
    kept = []
    for failure in failures:
        column = failure.column
        if column is not None and column not in frame:
            continue  # the column-set check names the missing column once
        if failure.error and column in text_in and not failure.offending:
            continue  # its type check names the text and the row
        kept.append(failure)
    ordered = sorted(kept, key=lambda f: (f.column is not None, ORDER.get(f.expectation, 9)))
    return summary.model_copy(update={"failures": ordered})


def describe(summary: Validation) -> str:
    stats = summary.statistics
    lines = [
        (
            f"data validation {'passed' if summary.success else 'FAILED'}: "
            f"{stats.successful_expectations}/{stats.evaluated_expectations} expectations met"
        )
    ]
    lines += [f"  - {explain(failure)}" for failure in summary.failures]
    if summary.data_docs:
        lines.append(f"Data Docs: {summary.data_docs}")
    if not summary.success:
        lines.append(
            "Fix the data (or, if the change is intended, the suite: make suite redrafts it from this data); "
            "`make restore` brings back the last data that passed."
        )
    return "\n".join(lines)
