"""validate: check data/raw against the Great Expectations suite; a failure stops the pipeline before training.

The suite is committed JSON under gx/expectations/ (data/suite.py drafts one: ``python -m
{{ cookiecutter.package_name }} validate --init``); data/checks.py runs it, data/explain.py says what failed. The
outcome goes to reports/validation.json (core/reports.Validation), which train records as lineage.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..core.config import Config
from ..core.errors import MissingFile
from ..core.reports import Validation
from ..data import checks, explain, sources, suite

log = logging.getLogger(__name__)


def run(cfg: Config, root: Path = suite.GX_ROOT) -> Validation:
    raw = cfg.paths.raw
    if not raw.exists():
        raise MissingFile(f"{raw} (paths.raw) not found: run `dvc repro ingest` first")
    frame = sources.validated(pd.read_parquet(raw), cfg.ingest)
    found = checks.validate_frame(
        frame, cfg.validate_.suite, root, run_name=checks.data_version(raw), asset=f"raw_data ({raw})"
    )
    summary = explain.locate(found, frame).model_copy(update={"suite": cfg.validate_.suite})
    summary.save(cfg.paths.validation)
    text = explain.describe(summary)
    if not summary.success:
        raise checks.ValidationFailed(text)
    log.info("%s", text)
    return summary


def init(cfg: Config, root: Path = suite.GX_ROOT) -> Path:
    """Draft the suite from the current raw data without ``ingest.drop_columns`` (run `dvc repro ingest` first)."""
    return suite.draft_from(cfg.paths.raw, cfg.validate_.suite, root, drop=cfg.ingest.drop_columns)
