"""Ground truth: true labels for served predictions, into the serving layer's `feedback` table.

A prediction's id is ``<request id>:<row key>``: the service returns it with each answer (``id``), and a batch
row's id is its batch id and its row key (the key column's value, or its position in the input file).
Labels come back one by one over HTTP (``POST /feedback`` on the service, with the feedback token; online
predictions only) or in bulk from a file, on the trusted side (whoever can reach the serving database; the only
way to label batch rows):

    python -m <package> feedback --input labels.csv   (make feedback LABELS=labels.csv)

The file (CSV or Parquet) has a ``label`` column and either an ``id`` column or ``batch_id`` and ``row_key``
columns. Every label is checked first (type and class against the task: predictions/labels.py), then every id is
looked up: one unknown id or bad label refuses the whole file, naming them. Each label is stored with its source
(``file``) and sender (the user and the file's name). Sending a file twice changes nothing; a label that differs
from the one a prediction has is kept as a conflict (and the prediction left out of live metrics and harvest),
never written over it.
"""

from __future__ import annotations

import getpass
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.config import Config
from ..core.schema import Schema
from ..data.tables import read_table
from ..predictions import database, store
from ..predictions.labels import BadFeedback, check_labels, native

log = logging.getLogger(__name__)


def read_labels(path: Path) -> list[tuple[str, Any]]:
    """(prediction id, label) pairs from a CSV or Parquet file."""
    frame = read_table(path)
    if "label" not in frame.columns:
        raise BadFeedback(f"{path} has no `label` column (columns: {', '.join(map(str, frame.columns))})")
    if "id" in frame.columns:
        ids = frame["id"].astype(str)
    elif {"batch_id", "row_key"} <= set(frame.columns):
        ids = frame["batch_id"].astype(str) + store.ID_SEPARATOR + frame["row_key"].astype(str)
    else:
        raise BadFeedback(f"{path} needs an `id` column, or `batch_id` and `row_key` columns")
    labels = [None if pd.isna(v) else native(v) for v in frame["label"]]
    return list(zip(ids, labels, strict=True))


def known_schema(path: Path) -> Schema | None:
    """The feature schema of the last prepared data (its classes), when the pipeline ran here."""
    return Schema.load(path) if path.exists() else None


def run(cfg: Config, input_path: Path | str) -> dict[str, int]:
    path = Path(input_path)
    labels, problems = check_labels(read_labels(path), known_schema(cfg.paths.features), strict=False, task=cfg.task)
    if problems:
        raise BadFeedback(f"{path}: nothing stored:\n  " + "\n  ".join(problems))
    engine = database.connect(cfg.serving.resolved_db_url)
    try:
        counts = store.record_feedback(engine, labels, source=database.LABEL_FILE, sender=sender(path))
    except store.UnknownPredictions as error:
        raise BadFeedback(f"{path}: nothing stored: {error}") from None
    log.info(
        "feedback from %s: %d label(s), %d new, %d repeated, %d conflicting with a label sent before (kept apart)",
        path,
        counts["received"],
        counts["new"],
        counts["repeated"],
        counts["conflicts"],
    )
    return counts


def sender(path: Path) -> str:
    """Who stored a file's labels: the user and the file's name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return f"{user}: {path.name}"
