"""validate: check data/raw against the Great Expectations suite; a failure stops the pipeline before training.

The suite is committed JSON under gx/expectations/. ``draft_suite`` writes a starting suite from the current
data (``python -m {{ cookiecutter.package_name }} validate --init``) for you to review and tighten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from .. import data_docs
from ..config import Config, UserError

log = logging.getLogger(__name__)
GX_ROOT = Path(".")
RAW = Path("data/raw/dataset.parquet")
REPORT = Path("reports/validation.json")
MAX_CATEGORIES = 50  # columns with more distinct values get no value-set expectation


class ValidationFailed(UserError):
    """The data does not meet the suite; the message is the readable summary."""


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def suite_path(suite: str, root: Path = GX_ROOT) -> Path:
    return root / "gx" / "expectations" / f"{suite}.json"


def _expectation(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {}, "severity": "critical"}


def _margin(low: float, high: float) -> tuple[float, float]:
    """Widen an observed range by 10% each side so that new but plausible rows still pass."""
    span = (high - low) or abs(high) or 1.0
    return round(low - 0.1 * span, 6), round(high + 0.1 * span, 6)


def draft_expectations(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A starting point profiled from ``frame``: columns, row count, nulls, numeric ranges and category sets."""
    found = [
        _expectation("expect_table_columns_to_match_set", column_set=[str(c) for c in frame.columns], exact_match=True),
        _expectation("expect_table_row_count_to_be_between", min_value=max(1, len(frame) // 2), max_value=None),
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
        if ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
            low, high = _margin(float(series.min()), float(series.max()))
            found.append(
                _expectation("expect_column_values_to_be_between", column=str(column), min_value=low, max_value=high)
            )
        elif series.nunique(dropna=True) <= MAX_CATEGORIES:
            values = sorted(str(v) for v in series.dropna().unique())
            found.append(_expectation("expect_column_values_to_be_in_set", column=str(column), value_set=values))
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


def _context(root: Path):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx, gx.get_context(mode="file", project_root_dir=str(root))


def _checkpoint(gx, context, name: str):
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
        raise FileNotFoundError(
            f"{suite_path(suite, root)} not found: draft one with `python -m {{ cookiecutter.package_name }} validate --init`"
        )
    gx, context = _context(root)
    from great_expectations.core.run_identifier import RunIdentifier

    result = _checkpoint(gx, context, suite).run(
        batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name)
    )
    (validation,) = result.run_results.values()
    summary = summarize(validation.to_json_dict())
    summary["data_docs"] = next(iter(context.get_docs_sites_urls()), {}).get("site_url")
    site = data_docs.site_dir(summary["data_docs"])
    if site is not None:
        data_docs.make_offline(site, root / data_docs.VENDOR, asset_name=asset)
    return summary


def data_version(path: Path) -> str:
    """A readable run name for Data Docs: the file's stem and the start of its DVC (md5) content hash."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.stem}-{digest.hexdigest()[:8]}"


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The part of a GX validation result a person needs: what failed, where, and how many rows."""
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        config = item["expectation_config"]
        details = item.get("result") or {}
        error = (item.get("exception_info") or {}).get("exception_message")
        failures.append(
            {
                "expectation": config["type"],
                "column": config["kwargs"].get("column"),
                "unexpected_count": details.get("unexpected_count"),
                "element_count": details.get("element_count"),
                "unexpected_percent": details.get("unexpected_percent"),
                "examples": [None if v != v else v for v in details.get("partial_unexpected_list") or []][:5],
                "observed": details.get("observed_value"),
                "error": error,
            }
        )
    return {"success": bool(result["success"]), "statistics": result["statistics"], "failures": failures}


def describe(summary: dict[str, Any]) -> str:
    stats = summary["statistics"]
    lines = [
        f"data validation {'passed' if summary['success'] else 'FAILED'}: "
        f"{stats['successful_expectations']}/{stats['evaluated_expectations']} expectations met"
    ]
    for failure in summary["failures"]:
        where = f"column {failure['column']!r}" if failure["column"] else "table"
        if failure["error"]:
            what = f"could not be evaluated: {failure['error']}"
        elif failure["unexpected_count"] is not None:
            what = (
                f"{failure['unexpected_count']} of {failure['element_count']} rows unexpected"
                f" ({failure['unexpected_percent']:.1f}%), e.g. {failure['examples']}"
            )
        else:
            what = f"observed {failure['observed']}"
        lines.append(f"  - {failure['expectation']} on {where}: {what}")
    if summary.get("data_docs"):
        lines.append(f"Data Docs: {summary['data_docs']}")
    return "\n".join(lines)


def run(cfg: Config, raw: Path = RAW, report: Path = REPORT, root: Path = GX_ROOT) -> dict[str, Any]:
    frame = pd.read_parquet(raw)
    summary = validate_frame(frame, cfg.validate_.suite, root, run_name=data_version(raw), asset=f"raw_data ({raw})")
    summary["suite"] = cfg.validate_.suite
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    text = describe(summary)
    if not summary["success"]:
        raise ValidationFailed(text)
    log.info("%s", text)
    return summary


def init(cfg: Config, raw: Path = RAW, root: Path = GX_ROOT) -> Path:
    """Draft the suite from the current raw data (run `dvc repro ingest` first)."""
    if not raw.exists():
        raise FileNotFoundError(f"{raw} not found: run `dvc repro ingest` first")
    path = write_suite(pd.read_parquet(raw), cfg.validate_.suite, root)
    log.info("drafted %s from %s: review it, then commit it", path, raw)
    return path
