"""Retraining from production: labelled served rows become a new version of the training data, for train only.

``python -m <package> harvest [--since 30d]`` (``make harvest``) joins the serving layer's trusted feedback labels
(from a source that needed a credential, without a conflicting label: predictions/queries.labelled; unverified and
conflicting ones are counted, never used) with the features the serving layer kept, and appends those rows to the
harvested file (params.yaml ``paths.harvested``, under data/external/), never to the source data: prepare adds the
harvested rows to train only, so the holdout the gate scores on stays frozen whatever a harvest brings
(data/split.py). The new rows are deduplicated (against each other, the source's rows and the rows harvested
before, on the feature columns and the target), the source with every harvested row is checked with the same Great
Expectations suite as the pipeline's validate stage before anything is written, and the file is re-added to DVC
(`dvc add`), so the change is a new data version in git: the next `make pipeline` trains on it and the gate decides
as usual. Harvesting twice adds nothing the second time.

The harvest's account (rows added, labels left out, the label shift of the added rows against the source data) goes
to reports/monitoring/harvest.md and is added to the monitoring summary, the retraining pull request's body.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.config import Config
from ..core.errors import UserError
from ..core.metrics import TASKS
from ..core.schema import Schema
from ..data import checks, explain, sources, split
from ..data.tables import read_table
from ..predictions import database, queries
from .window import parse_window

log = logging.getLogger(__name__)
REPORT = Path("reports/monitoring")
SECTION = "## Harvest"


def labelled_frame(cfg: Config, since: str | None = None) -> pd.DataFrame:
    """The trusted labelled served rows that kept their features: the features and the label under ingest.target."""
    engine = database.connect(cfg.serving.resolved_db_url)
    start = database.now() - parse_window(since) if since else None
    rows = [r for r in queries.labelled(engine, start) if r["inputs"]]
    frame = pd.DataFrame.from_records([r["inputs"] for r in rows])
    frame[cfg.ingest.target] = [r["label"] for r in rows]
    return frame


def new_rows(existing: pd.DataFrame, harvested: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Harvested rows that are neither repeated nor already in the data (compared on ``columns``)."""
    fresh_key = split.row_keys(harvested, columns)
    fresh = harvested[~fresh_key.duplicated(keep="last")]
    fresh_key = fresh_key[fresh.index]
    if existing.empty or fresh.empty:
        return fresh.reset_index(drop=True)
    return fresh[~fresh_key.isin(set(split.row_keys(existing, columns)))].reset_index(drop=True)


def label_shift(added: pd.Series, reference: pd.Series, task: str) -> list[str]:
    """How the added rows' labels differ from the source data's: class shares, or mean and spread."""
    if added.empty:
        return []
    if not TASKS[task].has_classes:
        numbers, before = pd.to_numeric(added, errors="coerce"), pd.to_numeric(reference, errors="coerce")
        mean = f"target mean {numbers.mean():.4g} (source data {before.mean():.4g})"
        return [f"{mean}, standard deviation {numbers.std():.4g} ({before.std():.4g})"]
    shares, before = added.astype(str).value_counts(normalize=True), reference.astype(str).value_counts(normalize=True)
    return [
        f"`{label}`: {100 * shares.get(label, 0.0):.1f}% of the added rows (source data {100 * before.get(label, 0.0):.1f}%)"
        for label in sorted(set(shares.index) | set(before.index))
    ]


def account(result: dict[str, Any]) -> str:
    """The harvest's section of the monitoring summary (the retraining pull request's body)."""
    labels = result["labels"]
    added = (
        f"- added {result['added']} labelled production row(s) to `{result['file']}` ({result['duplicates']} "
        "already known), for train only: the holdout the gate scores on is unchanged"
    )
    left_out = (
        f"- labels: {labels['trusted']} trusted; left out: {labels['conflicts']} with conflicting labels, "
        f"{labels['untrusted']} from an unverified source"
    )
    lines = [SECTION, "", added, left_out]
    if result.get("validation"):
        lines.append(f"- the source data with every harvested row meets the suite: {result['validation']} expectations")
    if result["shift"]:
        lines += ["- label shift of the added rows:", *(f"  - {line}" for line in result["shift"])]
    return "\n".join(lines) + "\n"


def publish(text: str, folder: Path = REPORT) -> None:
    """harvest.md, and the same section in summary.md (replacing an earlier harvest's) when monitor wrote one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "harvest.md").write_text(text)
    summary = folder / "summary.md"
    if summary.exists():
        body = summary.read_text()
        body = body[: body.index(SECTION)].rstrip() if SECTION in body else body.rstrip()
        summary.write_text(f"{body}\n\n{text}")


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def run(cfg: Config, *, since: str | None = None, dvc_add: bool = True) -> dict[str, Any]:
    engine = database.connect(cfg.serving.resolved_db_url)
    start = database.now() - parse_window(since) if since else None
    labels = queries.label_counts(engine, start)
    harvested = labelled_frame(cfg, since)
    target, path = cfg.ingest.target, cfg.paths.harvested
    result: dict[str, Any] = {"file": str(path), "added": 0, "duplicates": 0, "rows": None, "labels": labels}
    result["shift"] = []
    if harvested.empty:
        log.info("no trusted labelled served rows with features: nothing to harvest (%s)", labels)
        publish(account(result))
        return result
    source = sources.load(cfg.ingest)
    before = read_table(path) if path.exists() else pd.DataFrame(columns=source.columns)
    schema = Schema.load(cfg.paths.features) if cfg.paths.features.exists() else None
    columns = [*(schema.names if schema else [c for c in harvested.columns if c != target]), target]
    if missing := [c for c in columns if c not in source.columns]:
        raise UserError(f"{cfg.ingest.source} has no column(s) {', '.join(missing)}: the served features do not fit it")
    if missing := [c for c in columns if c not in harvested.columns]:
        raise UserError(f"the served rows kept no value for {', '.join(missing)}: they cannot be harvested")
    added = new_rows(pd.concat([source[columns], before[columns]], ignore_index=True), harvested[columns], columns)
    result |= {"duplicates": len(harvested) - len(added), "rows": len(before)}
    if added.empty:
        log.info("all %d trusted labelled served row(s) are known already: nothing to add", len(harvested))
        publish(account(result))
        return result
    after = split.keep_types(pd.concat([before[columns], added], ignore_index=True), source[columns])
    summary = checks.validate_frame(pd.concat([source, after], ignore_index=True), cfg.validate_.suite)
    if not summary.success:
        raise checks.ValidationFailed(
            f"{path} unchanged: the harvested data fails the suite\n{explain.describe(summary)}"
        )
    _write(after, path)
    if dvc_add:
        done = subprocess.run([sys.executable, "-m", "dvc", "add", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise UserError(f"`dvc add {path}` failed: {done.stderr.strip() or done.stdout.strip()}")
    stats = summary.statistics
    result |= {
        "added": len(added),
        "rows": len(after),
        "validation": f"{stats.successful_expectations}/{stats.evaluated_expectations}",
        "shift": label_shift(added[target], source[target], cfg.task),
    }
    publish(account(result))
    log.info(
        "harvested %d new trusted labelled row(s) into %s (%d duplicate(s) skipped, %s left out); %d rows, suite %s met",
        result["added"],
        path,
        result["duplicates"],
        f"{labels['conflicts']} conflicting and {labels['untrusted']} unverified label(s)",
        result["rows"],
        result["validation"],
    )
    return result
