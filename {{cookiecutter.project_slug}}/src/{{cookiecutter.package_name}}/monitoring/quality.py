"""Data quality of served rows: the Great Expectations suite that guarded training (validate.suite), on the served
inputs (its expectations on the feature columns: the target and table-level ones do not apply to served rows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.errors import UserError
from ..data.checks import summarize
from ..data.suite import suite_path


def served_suite(suite: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    """The suite's expectations that apply to served rows: those on one of the feature columns."""
    return [e for e in suite["expectations"] if e.get("kwargs", {}).get("column") in columns]


def quality(frame: pd.DataFrame, suite_name: str, root: Path = Path()) -> dict[str, Any]:
    """The training suite's feature expectations on the served inputs, in an in-memory GX context (gx/ untouched)."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    path = suite_path(suite_name, root)
    if not path.exists():
        raise UserError(f"{path} not found: monitoring runs the training suite (validate.suite) on served data")
    expectations = served_suite(json.loads(path.read_text()), list(frame.columns))
    context = gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(
        name=f"{suite_name}-served",
        expectations=[
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]).to_domain_obj() for e in expectations
        ],
    )
    asset = context.data_sources.add_pandas("served").add_dataframe_asset("served")
    batch = asset.add_batch_definition_whole_dataframe("window").get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    summary = summarize(result.to_json_dict())
    return {
        "suite": suite_name,
        "success": summary.success,
        "met": summary.statistics.successful_expectations,
        "evaluated": summary.statistics.evaluated_expectations,
        "failures": [f.model_dump(exclude={"offending"}) for f in summary.failures],  # offending: validate's only
    }
