"""validate: check data/raw against the Great Expectations suite; a failure stops the pipeline before training.

The suite is committed JSON under gx/expectations/. ``draft_suite`` writes a starting suite from the current
data (``python -m {{ cookiecutter.package_name }} validate --init``) for you to review and tighten.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from .. import data_docs, tables
from ..config import Config, UserError
from ..errors import MissingFile

if TYPE_CHECKING:
    from great_expectations import Checkpoint
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)
GX_ROOT = Path()
MAX_CATEGORIES = 50  # columns with more distinct values get no value-set expectation


class ValidationFailed(UserError):
    """The data does not meet the suite; the message is the readable summary."""


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


def _context(root: Path) -> tuple[ModuleType, AbstractDataContext]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx, gx.get_context(mode="file", project_root_dir=str(root))


def _checkpoint(gx: ModuleType, context: AbstractDataContext, name: str) -> Checkpoint:
    """The suite's checkpoint, created once (later runs only read it, so gx/ does not churn)."""
    try:
        return context.checkpoints.get(name)
    except Exception:  # GX raises its own not-found types per store
        log.info("creating validation definition and checkpoint %r in gx/ (commit them)", name)
    suite = context.suites.get(name)
    batch = context.data_sources.get("pandas").get_asset("raw_data").get_batch_definition("all_rows")
    try:
        definition = context.validation_definitions.get(name)
    except Exception:
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
    )


def validate_frame(
    frame: pd.DataFrame, suite: str, root: Path = GX_ROOT, run_name: str | None = None, asset: str | None = None
) -> dict[str, Any]:
    """Run the suite's checkpoint on ``frame`` (also updates Data Docs, made to work offline); returns the summary.

    ``run_name`` names the run in Data Docs (the data's content hash, say); ``asset`` describes the data there.
    """
    if not suite_path(suite, root).exists():
        raise MissingFile(
            f"{suite_path(suite, root)} not found: draft one with `python -m {{ cookiecutter.package_name }} validate --init`"
        )
    gx, context = _context(root)
    from great_expectations.core.run_identifier import RunIdentifier

    result = _checkpoint(gx, context, suite).run(
        batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name)
    )
    (validation,) = result.run_results.values()
    summary = summarize(validation.to_json_dict())
    sites = context.get_docs_sites_urls()
    summary["data_docs"] = sites[0].get("site_url") if sites else None
    site = data_docs.site_dir(summary["data_docs"])
    if site is not None:
        data_docs.make_offline(site, root / data_docs.VENDOR, asset_name=asset)
    return summary


def data_version(path: Path) -> str:
    """A readable run name for Data Docs: the file's stem and the start of its DVC (md5) content hash."""
    return f"{path.stem}-{tables.file_md5(path)[:8]}"


def _exception_message(info: Any) -> str | None:
    """GX puts an expectation's error either at the top of exception_info or one level down, keyed by metric."""
    if not isinstance(info, dict):
        return None
    if info.get("exception_message"):
        return str(info["exception_message"]).strip().splitlines()[-1]
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("exception_message"):
            return str(nested["exception_message"]).strip().splitlines()[-1]
    return None


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The part of a GX validation result a person needs: what failed, where, and how many rows."""
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        config = item["expectation_config"]
        details = item.get("result") or {}
        failures.append(
            {
                "expectation": config["type"],
                "column": config["kwargs"].get("column"),
                "kwargs": {k: v for k, v in config["kwargs"].items() if k not in ("column", "batch_id")},
                "unexpected_count": details.get("unexpected_count"),
                "element_count": details.get("element_count"),
                "unexpected_percent": details.get("unexpected_percent"),
                "examples": [None if v != v else v for v in details.get("partial_unexpected_list") or []][:5],
                "rows": list(details.get("partial_unexpected_index_list") or [])[:5],
                "observed": details.get("observed_value"),
                "mismatched": (details.get("details") or {}).get("mismatched"),
                "error": _exception_message(item.get("exception_info")),
            }
        )
    return {"success": bool(result["success"]), "statistics": result["statistics"], "failures": failures}


def _bounds(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _row(index: Any) -> Any:
    """Rows are counted from 1, the first row after a CSV's header."""
    return index + 1 if isinstance(index, int) else index


def _rows(failure: dict[str, Any]) -> str:
    """Each distinct offending value once, with the first row it is in."""
    rows = list(failure["rows"]) + [None] * len(failure["examples"])
    first: dict[str, Any] = {}
    for value, row in zip(failure["examples"], rows, strict=False):
        first.setdefault(repr(value), row)
    return ", ".join(k if r is None else f"{k} (row {_row(r)})" for k, r in first.items())


def explain(failure: dict[str, Any]) -> str:
    """One line a person can act on: which column or bound, which value, which row."""
    kind, kwargs = failure["expectation"], failure.get("kwargs") or {}
    column = failure["column"]
    share = (
        f"{failure['unexpected_count']} of {failure['element_count']} rows ({failure['unexpected_percent']:.1f}%)"
        if failure["unexpected_count"] is not None
        else ""
    )
    allowed = f" (allowed: up to {100 * (1 - kwargs['mostly']):.1f}%)" if kwargs.get("mostly") is not None else ""
    if kind == "expect_table_columns_to_match_set":
        mismatched = failure.get("mismatched") or {}
        missing, extra = mismatched.get("missing") or [], mismatched.get("unexpected") or []
        if not mismatched:
            expected = set(kwargs.get("column_set") or [])
            seen = set(failure["observed"] or [])
            missing, extra = sorted(expected - seen), sorted(seen - expected)
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"extra column(s) {', '.join(map(repr, extra))} not in the suite")
        return "table: " + "; ".join(parts or ["columns differ from the suite"])
    if kind == "expect_table_row_count_to_be_between":
        return f"table: {failure['observed']} rows, the suite expects {_bounds(kwargs)}"
    if kind == "expect_compound_columns_to_be_unique":
        if failure["error"] or failure["unexpected_count"] is None:
            return "table: duplicate rows not checked (a column of the suite is missing)"
        return f"table: {share} are exact duplicates of another row{allowed}"
    where = f"column {column!r}"
    if failure.get("offending"):
        return f"{where}: {failure['offending']}"
    if failure["error"]:
        return f"{where}: could not be checked: {failure['error']}"
    if kind == "expect_column_values_to_not_be_null":
        return f"{where}: {share} are missing{allowed}"
    if kind == "expect_column_values_to_be_between":
        return f"{where}: {share} outside the bound {_bounds(kwargs)}, e.g. {_rows(failure)}"
    if kind == "expect_column_values_to_be_in_set":
        return f"{where}: {share} not in the suite's value set, e.g. {_rows(failure)}"
    if kind == "expect_column_values_to_be_in_type_list":
        return f"{where}: type {failure['observed']} is not numeric"
    if failure["unexpected_count"] is not None:
        return f"{where}: {kind}: {share} unexpected, e.g. {_rows(failure)}"
    return f"{where}: {kind}: observed {failure['observed']}"


ORDER = {  # the most telling failure first
    "expect_table_columns_to_match_set": 0,
    "expect_table_row_count_to_be_between": 1,
    "expect_compound_columns_to_be_unique": 2,
    "expect_column_values_to_be_in_type_list": 3,
    "expect_column_values_to_not_be_null": 4,
}


def locate(summary: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """Add what the library leaves out: the first offending value and its row for a numeric column holding text,
    and a plain reason for checks that could not run on a column that is missing or holds text."""
    text_in = set()
    for failure in summary["failures"]:
        column = failure["column"]
        if failure["expectation"] != "expect_column_values_to_be_in_type_list" or column not in frame:
            continue
        values = frame[column]
        bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            failure["offending"] = (
                f"expected numbers, found text in {int(bad.sum())} row(s), e.g. {values.iloc[row]!r} in row {row + 1}"
            )
            text_in.add(column)
        elif values.isna().all():
            failure["offending"] = f"expected numbers, but every value is empty (type {failure['observed']})"
    kept = []
    for failure in summary["failures"]:
        column = failure["column"]
        if column is not None and column not in frame:
            continue  # the column-set check names the missing column once
        if failure["error"] and column in text_in and not failure.get("offending"):
            continue  # its type check names the text and the row
        kept.append(failure)
    summary["failures"] = sorted(kept, key=lambda f: (f["column"] is not None, ORDER.get(f["expectation"], 9)))
    return summary


def describe(summary: dict[str, Any]) -> str:
    stats = summary["statistics"]
    lines = [
        (
            f"data validation {'passed' if summary['success'] else 'FAILED'}: "
            f"{stats['successful_expectations']}/{stats['evaluated_expectations']} expectations met"
        )
    ]
    lines += [f"  - {explain(failure)}" for failure in summary["failures"]]
    if summary.get("data_docs"):
        lines.append(f"Data Docs: {summary['data_docs']}")
    if not summary["success"]:
        lines.append(
            "Fix the data (or, if the change is intended, the suite: make suite redrafts it from this data); "
            "`make restore` brings back the last data that passed."
        )
    return "\n".join(lines)


def run(cfg: Config, root: Path = GX_ROOT) -> dict[str, Any]:
    raw, report = cfg.paths.raw, cfg.paths.validation
    if not raw.exists():
        raise MissingFile(f"{raw} (paths.raw) not found: run `dvc repro ingest` first")
    frame = pd.read_parquet(raw)
    summary = locate(
        validate_frame(frame, cfg.validate_.suite, root, run_name=data_version(raw), asset=f"raw_data ({raw})"), frame
    )
    summary["suite"] = cfg.validate_.suite
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    text = describe(summary)
    if not summary["success"]:
        raise ValidationFailed(text)
    log.info("%s", text)
    return summary


def init(cfg: Config, root: Path = GX_ROOT) -> Path:
    """Draft the suite from the current raw data (run `dvc repro ingest` first)."""
    raw = cfg.paths.raw
    if not raw.exists():
        raise MissingFile(f"{raw} (paths.raw) not found: run `dvc repro ingest` first")
    path = write_suite(pd.read_parquet(raw), cfg.validate_.suite, root)
    log.info("drafted %s from %s: review it, then commit it", path, raw)
    return path
