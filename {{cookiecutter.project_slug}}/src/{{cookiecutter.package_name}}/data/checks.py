"""Running the Great Expectations suite on a table: the project's checkpoint (gx/, with Data Docs made offline), and
the summary of what failed (core/reports.Validation), which validate, harvest and monitoring share.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.errors import MissingFile, UserError
from ..core.reports import Failure, Statistics, Validation
from . import data_docs, tables
from .suite import GX_ROOT, suite_path

if TYPE_CHECKING:
    from great_expectations import Checkpoint
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)


class ValidationFailed(UserError):
    """The data does not meet the suite; the message is the readable summary."""


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
) -> Validation:
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
    sites = context.get_docs_sites_urls()
    summary = summarize(validation.to_json_dict()).model_copy(
        update={"data_docs": sites[0].get("site_url") if sites else None}
    )
    site = data_docs.site_dir(summary.data_docs)
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


def summarize(result: dict[str, Any]) -> Validation:
    """The part of a GX validation result a person needs: what failed, where, and how many rows."""
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        config = item["expectation_config"]
        details = item.get("result") or {}
        failures.append(
            Failure(
                expectation=config["type"],
                column=config["kwargs"].get("column"),
                kwargs={k: v for k, v in config["kwargs"].items() if k not in ("column", "batch_id")},
                unexpected_count=details.get("unexpected_count"),
                element_count=details.get("element_count"),
                unexpected_percent=details.get("unexpected_percent"),
                examples=[None if v != v else v for v in details.get("partial_unexpected_list") or []][:5],
                rows=list(details.get("partial_unexpected_index_list") or [])[:5],
                observed=details.get("observed_value"),
                mismatched=(details.get("details") or {}).get("mismatched"),
                error=_exception_message(item.get("exception_info")),
            )
        )
    return Validation(success=bool(result["success"]), statistics=Statistics(**result["statistics"]), failures=failures)
