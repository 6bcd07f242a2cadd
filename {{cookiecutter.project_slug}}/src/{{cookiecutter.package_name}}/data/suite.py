"""Drafting the Great Expectations suite from the data (``python -m {{ cookiecutter.package_name }} validate --init``,
``make suite``): a starting point to review and tighten, committed as JSON under gx/expectations/.

The draft is profiled from the raw table: its columns, the row count (both bounds), duplicate rows, and per column
the share of missing values, the numeric type, and a range or (few-valued integers, text) a value set. Ids derive
from the content, so redrafting the same data gives a clean diff.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..core.errors import MissingFile

log = logging.getLogger(__name__)
GX_ROOT = Path()
MAX_CATEGORIES = 50  # columns with more distinct values get no value-set expectation


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def suite_path(suite: str, root: Path = GX_ROOT) -> Path:
    return root / "gx" / "expectations" / f"{suite}.json"


def _expectation(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {}, "severity": "critical"}


NUMERIC_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "Int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "Float64",
]  # a numeric column may gain missing values (int -> float) and stay numeric
MAX_INTEGER_SET = 12  # integer columns with at most this many distinct values are drafted as a set of values
ROW_HEADROOM = 10  # the drafted row count may grow up to this many times the profiled one
DUPLICATE_SLACK = 0.02  # the drafted duplicate-row check tolerates this share of duplicates more than observed


def _margin(low: float, high: float, *, integer: bool = False) -> tuple[float, float]:
    """Widen an observed range by 10% each side so that new but plausible rows still pass, without crossing zero
    where the data never did (a count or a size that was never negative stays >= 0)."""
    span = (high - low) or abs(high) or 1.0
    wide_low, wide_high = low - 0.1 * span, high + 0.1 * span
    if low >= 0:
        wide_low = max(wide_low, 0.0)
    if high <= 0:
        wide_high = min(wide_high, 0.0)
    if integer:
        return float(np.floor(wide_low)), float(np.ceil(wide_high))
    return round(wide_low, 6), round(wide_high, 6)


def draft_expectations(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A starting point profiled from ``frame``: columns, row count (both bounds), duplicate rows, and per column
    nulls (``mostly`` when some are missing), numeric type, range or (few-valued integers, text) value set."""
    rows = len(frame)
    unique_share = 1 - float(frame.duplicated(keep=False).mean()) if rows else 1.0
    found = [
        _expectation("expect_table_columns_to_match_set", column_set=[str(c) for c in frame.columns], exact_match=True),
        _expectation(
            "expect_table_row_count_to_be_between", min_value=max(1, rows // 2), max_value=max(1, rows) * ROW_HEADROOM
        ),
        _expectation(
            "expect_compound_columns_to_be_unique",
            column_list=[str(c) for c in frame.columns],
            mostly=round(max(0.0, unique_share - DUPLICATE_SLACK), 3),
        ),
    ]
    for column in frame.columns:
        series = frame[column]
        missing = float(series.isna().mean())
        if missing == 0:
            found.append(_expectation("expect_column_values_to_not_be_null", column=str(column)))
        else:
            found.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    column=str(column),
                    mostly=round(max(0.0, 1 - 2 * missing), 3),
                )
            )
        values = series.dropna()
        if ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
            found.append(
                _expectation("expect_column_values_to_be_in_type_list", column=str(column), type_list=NUMERIC_TYPES)
            )
            if values.empty:
                continue
            integer = bool((values == values.round()).all())
            if integer and values.nunique() <= MAX_INTEGER_SET:
                found.append(
                    _expectation(
                        "expect_column_values_to_be_in_set",
                        column=str(column),
                        value_set=sorted(int(v) for v in values.unique()),
                    )
                )
                continue
            low, high = _margin(float(values.min()), float(values.max()), integer=integer)
            found.append(
                _expectation("expect_column_values_to_be_between", column=str(column), min_value=low, max_value=high)
            )
        elif values.nunique() <= MAX_CATEGORIES:
            found.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    column=str(column),
                    value_set=sorted(str(v) for v in values.unique()),
                )
            )
    return found


def draft_suite(frame: pd.DataFrame, name: str) -> dict[str, Any]:
    """The suite as GX stores it, with ids derived from content so that redrafting gives clean diffs."""
    import great_expectations as gx

    expectations = draft_expectations(frame)
    for expectation in expectations:
        expectation["id"] = _id(
            "expectation", name, expectation["type"], json.dumps(expectation["kwargs"], sort_keys=True)
        )
    return {
        "name": name,
        "id": _id("suite", name),
        "expectations": expectations,
        "meta": {"great_expectations_version": gx.__version__},
        "notes": "Drafted from the data by `validate --init`: review the ranges and sets, then commit.",
    }


def write_suite(frame: pd.DataFrame, name: str, root: Path = GX_ROOT) -> Path:
    path = suite_path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(draft_suite(frame, name), indent=2, sort_keys=True) + "\n")
    return path


def _read_raw(raw: Path, drop: Sequence[str]) -> pd.DataFrame:
    if not raw.exists():
        raise MissingFile(f"{raw} (paths.raw) not found: run `dvc repro ingest` first")
    frame = pd.read_parquet(raw)
    return frame.drop(columns=[c for c in drop if c in frame.columns])


def draft_from(raw: Path, name: str, root: Path = GX_ROOT, drop: Sequence[str] = ()) -> Path:
    """Draft the suite ``name`` from the raw data file without the ``drop`` columns (run `dvc repro ingest` first)."""
    path = write_suite(_read_raw(raw, drop), name, root)
    log.info("drafted %s from %s: review it, then commit it", path, raw)
    return path


def redraft(frame: pd.DataFrame, name: str, root: Path = GX_ROOT) -> tuple[Path, list[str], list[str]]:
    """The suite ``name`` drafted again for ``frame``'s columns, keeping what was reviewed: every expectation of a
    column that stays and the row-count bounds are the old suite's; the table's column set, its duplicate check and
    the checks of new columns are drafted; the checks of columns that are gone are dropped. Returns the suite's path
    and the columns added and removed."""
    path = suite_path(name, root)
    old = json.loads(path.read_text())["expectations"]
    drafted = draft_suite(frame, name)
    columns = [str(c) for c in frame.columns]
    reviewed: dict[str, list[dict[str, Any]]] = {}
    for expectation in old:
        column = expectation["kwargs"].get("column")
        if column in columns:
            reviewed.setdefault(column, []).append(expectation)
    row_count = [e for e in old if e["type"] == "expect_table_row_count_to_be_between"]
    before = _columns(old)
    merged: list[dict[str, Any]] = []
    for expectation in drafted["expectations"]:
        column = expectation["kwargs"].get("column")
        if column is None:
            kept = row_count if expectation["type"] == "expect_table_row_count_to_be_between" else []
            merged.extend(kept or [expectation])
        elif column not in before:
            merged.append(expectation)  # a new column: its drafted checks
        elif column in reviewed:
            merged.extend(reviewed.pop(column))  # a column that stays: its reviewed checks, once
    drafted["expectations"] = merged
    path.write_text(json.dumps(drafted, indent=2, sort_keys=True) + "\n")
    return path, [c for c in columns if c not in before], [c for c in before if c not in columns]


def _columns(expectations: list[dict[str, Any]]) -> list[str]:
    """The column set a suite checks (its expect_table_columns_to_match_set)."""
    for expectation in expectations:
        if expectation["type"] == "expect_table_columns_to_match_set":
            return list(expectation["kwargs"]["column_set"])
    return sorted({e["kwargs"]["column"] for e in expectations if "column" in e["kwargs"]})
