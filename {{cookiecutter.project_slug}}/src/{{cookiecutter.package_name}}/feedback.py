"""Ground truth: true labels for served predictions, into the serving layer's `feedback` table.

A prediction's id is ``<request id>:<row key>``: the service returns it with each answer (``id``), and a batch
row's id is its batch id and its row key (the key column's value, or its position in the input file).
Labels come back one by one over HTTP (``POST /feedback`` on the service) or in bulk from a file:

    python -m <package> feedback --input labels.csv   (make feedback INPUT=labels.csv)

The file (CSV or Parquet) has a ``label`` column and either an ``id`` column or ``batch_id`` and ``row_key``
columns. Every label is checked first (type and class against the task), then every id is looked up: one
unknown id or bad label refuses the whole file, naming them. A resend replaces the stored label, so sending a
file twice never counts a label twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import features
from .config import Config, UserError
from .metrics import TASKS
from .serving import database, store

log = logging.getLogger(__name__)
MAX_SHOWN = 20


class BadFeedback(UserError):
    """Labels of the wrong type or class, or malformed ids."""


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def check_label(label: Any, schema: features.Schema | None, task: str, *, strict: bool) -> tuple[Any, str | None]:
    """The label as stored, or a problem. ``strict`` (JSON over HTTP): the type must be the classes' own; from a
    file, text that spells a class is accepted (a CSV column has one type)."""
    label = _native(label)
    if not TASKS[task].has_classes:
        if isinstance(label, bool) or not isinstance(label, int | float):
            if strict or not isinstance(label, str):
                return None, f"needs a number, got {type(label).__name__} {label!r}"
            try:
                label = float(label)
            except ValueError:
                return None, f"needs a number, got {label!r}"
        if not math.isfinite(label):
            return None, f"needs a finite number, got {label!r}"
        return float(label), None
    classes = list(schema.classes) if schema is not None else []
    if label is None or (isinstance(label, float) and not math.isfinite(label)):
        return None, "has no label"
    if not classes:
        return label, None
    if label in classes and type(label) in {type(c) for c in classes}:
        return label, None
    kinds = sorted({type(c).__name__ for c in classes})
    if strict and type(label) not in {type(c) for c in classes}:
        return None, f"needs a label of type {'/'.join(kinds)} (one of {classes}), got {type(label).__name__} {label!r}"
    by_text = {str(c): c for c in classes}
    text = str(int(label)) if isinstance(label, float) and label.is_integer() else str(label)
    if text in by_text:
        return by_text[text], None
    return None, f"has label {label!r}, not one of the classes {classes}"


def check_labels(
    items: Sequence[tuple[str, Any]], schema: features.Schema | None, *, strict: bool, task: str | None = None
) -> tuple[list[tuple[tuple[str, str], Any]], list[str]]:
    """((request id, row key), label) for each (id, label), and one line per problem naming the id."""
    task = task or (schema.task if schema is not None else "classification")
    labels, problems = [], []
    for identifier, label in items:
        key = store.split_id(identifier)
        if key is None:
            problems.append(f"id {identifier!r} is not <request or batch id>:<row key>")
            continue
        value, problem = check_label(label, schema, task, strict=strict)
        if problem:
            problems.append(f"id {identifier!r} {problem}")
        else:
            labels.append((key, value))
    if len(problems) > MAX_SHOWN:
        problems = [*problems[:MAX_SHOWN], f"and {len(problems) - MAX_SHOWN} more"]
    return labels, problems


def read_labels(path: Path) -> list[tuple[str, Any]]:
    """(prediction id, label) pairs from a CSV or Parquet file."""
    from .tables import read_table

    frame = read_table(path)
    if "label" not in frame.columns:
        raise BadFeedback(f"{path} has no `label` column (columns: {', '.join(map(str, frame.columns))})")
    if "id" in frame.columns:
        ids = frame["id"].astype(str)
    elif {"batch_id", "row_key"} <= set(frame.columns):
        ids = frame["batch_id"].astype(str) + store.ID_SEPARATOR + frame["row_key"].astype(str)
    else:
        raise BadFeedback(f"{path} needs an `id` column, or `batch_id` and `row_key` columns")
    labels = [None if pd.isna(v) else _native(v) for v in frame["label"]]
    return list(zip(ids, labels, strict=True))


def known_schema(path: Path) -> features.Schema | None:
    """The feature schema of the last prepared data (its classes), when the pipeline ran here."""
    return features.Schema.load(path) if path.exists() else None


def run(cfg: Config, input_path: Path | str) -> dict[str, int]:
    path = Path(input_path)
    labels, problems = check_labels(read_labels(path), known_schema(cfg.paths.features), strict=False, task=cfg.task)
    if problems:
        raise BadFeedback(f"{path}: nothing stored:\n  " + "\n  ".join(problems))
    engine = database.connect(cfg.serving.resolved_db_url)
    try:
        counts = store.record_feedback(engine, labels)
    except store.UnknownPredictions as error:
        raise BadFeedback(f"{path}: nothing stored: {error}") from None
    log.info(
        "feedback from %s: %d label(s), %d new, %d replaced a label sent before",
        path,
        counts["received"],
        counts["new"],
        counts["replaced"],
    )
    return counts
