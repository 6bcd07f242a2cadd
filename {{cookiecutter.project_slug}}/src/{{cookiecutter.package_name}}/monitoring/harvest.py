"""Retraining from production: labelled served rows become a new version of the training data.

``python -m <package> harvest [--since 30d]`` (``make harvest``) joins the serving layer's feedback labels with
the features the serving layer kept, and appends those rows to the external data that ingest.source names
(data/external/<file>, CSV or Parquet; a scikit-learn source is first written out as
data/external/<dataset>.parquet and ingest.source pointed at it). The new rows are deduplicated (against each
other and against the rows already there, on the feature columns and the target), the whole table is checked
with the same Great Expectations suite as the pipeline's validate stage before anything is written, and the
file is re-added to DVC (`dvc add`), so the change is a new data version in git: the next `make pipeline`
trains on it and the gate decides as usual. Harvesting twice adds nothing the second time.
"""

from __future__ import annotations

import contextlib
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.config import PARAMS_FILE, Config
from ..core.errors import UserError
from ..core.schema import Schema
from ..data import checks, explain, sources
from ..predictions import database, queries
from .window import parse_window

log = logging.getLogger(__name__)


def labelled_frame(cfg: Config, since: str | None = None) -> pd.DataFrame:
    """The labelled served rows that kept their features: the features and the label under ingest.target."""
    engine = database.connect(cfg.serving.resolved_db_url)
    start = database.now() - parse_window(since) if since else None
    rows = [r for r in queries.labelled(engine, start) if r["inputs"]]
    frame = pd.DataFrame.from_records([r["inputs"] for r in rows])
    frame[cfg.ingest.target] = [r["label"] for r in rows]
    return frame


def external_file(cfg: Config, params: Path = PARAMS_FILE) -> Path:
    """The file under paths.external that ingest reads; a scikit-learn source is written out as one first."""
    name = cfg.ingest.sklearn_dataset
    if name is None:
        return Path(cfg.ingest.source)
    path = cfg.paths.external / f"{name}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        sources.load_sklearn(name, cfg.ingest.target).to_parquet(path, index=False)
    text = params.read_text()
    pointed, found = re.subn(
        r"^(\s+source:\s*)sklearn:" + re.escape(name) + r"\b",
        rf"\g<1>{path.as_posix()}",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    if not found:
        raise UserError(f"could not point ingest.source in {params} at {path}: set it by hand, then harvest again")
    params.write_text(pointed)
    log.info("ingest.source now reads %s (the bundled dataset, written out) in %s", path, params)
    return path


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def new_rows(existing: pd.DataFrame, harvested: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Harvested rows that are neither repeated nor already in the data (compared on ``columns``)."""
    fresh_key = _keys(harvested, columns)
    fresh = harvested[~fresh_key.duplicated(keep="last")]
    fresh_key = fresh_key[fresh.index]
    if existing.empty or fresh.empty:
        return fresh.reset_index(drop=True)
    return fresh[~fresh_key.isin(set(_keys(existing, columns)))].reset_index(drop=True)


def _keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text key per row; numbers as floats, so 52 (an int in a CSV) and 52.0 (a served value) are equal."""
    parts = []
    for column in columns:
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            parts.append(numbers.map(lambda v: "" if pd.isna(v) else repr(float(v))))
        else:
            parts.append(values.map(lambda v: "" if pd.isna(v) else str(v)))
    return pd.concat(parts, axis=1).astype(object).agg("\x1f".join, axis=1)


def run(cfg: Config, *, since: str | None = None, dvc_add: bool = True) -> dict[str, Any]:
    harvested = labelled_frame(cfg, since)
    target = cfg.ingest.target
    if harvested.empty:
        log.info("no labelled served rows with features: nothing to harvest")
        return {"file": None, "added": 0, "duplicates": 0, "rows": None}
    path = external_file(cfg)
    existing = _read(path) if path.exists() else pd.DataFrame(columns=harvested.columns)
    schema = Schema.load(cfg.paths.features) if cfg.paths.features.exists() else None
    columns = [*(schema.names if schema else [c for c in harvested.columns if c != target]), target]
    if missing := [c for c in columns if c not in existing.columns and not existing.empty]:
        raise UserError(f"{path} has no column(s) {', '.join(missing)}: the served features do not fit it")
    added = new_rows(existing, harvested[columns], columns)
    if added.empty:
        log.info("all %d labelled served row(s) are already in %s: nothing to add", len(harvested), path)
        return {"file": str(path), "added": 0, "duplicates": len(harvested), "rows": len(existing)}
    combined = pd.concat([existing, added], ignore_index=True)
    for column in existing.columns:  # keep the file's own types (a column of ints stays ints when it can)
        if column in added.columns and not combined[column].isna().any():
            with contextlib.suppress(TypeError, ValueError):
                combined[column] = combined[column].astype(existing[column].dtype)
    raw = combined.drop(columns=[c for c in cfg.ingest.drop_columns if c in combined.columns])
    summary = checks.validate_frame(raw, cfg.validate_.suite)
    if not summary.success:
        raise checks.ValidationFailed(
            f"{path} unchanged: the harvested data fails the suite\n{explain.describe(summary)}"
        )
    _write(combined, path)
    if dvc_add:
        done = subprocess.run([sys.executable, "-m", "dvc", "add", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise UserError(f"`dvc add {path}` failed: {done.stderr.strip() or done.stdout.strip()}")
    stats = summary.statistics
    result = {
        "file": str(path),
        "added": len(added),
        "duplicates": len(harvested) - len(added),
        "rows": len(combined),
        "validation": f"{stats.successful_expectations}/{stats.evaluated_expectations}",
    }
    log.info(
        "harvested %d new labelled row(s) into %s (%d duplicate(s) skipped); %d rows, suite %s met",
        result["added"],
        path,
        result["duplicates"],
        result["rows"],
        result["validation"],
    )
    return result
