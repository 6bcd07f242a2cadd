"""Ground truth checked before it is stored: each true label against the task and the model's classes, each id
against the prediction-id shape (``<request or batch id>:<row key>``, store.prediction_id).

The service's ``POST /feedback`` (strict: JSON keeps types) and ``feedback --input`` (a file: text that spells a
class is accepted, a CSV column has one type) share these checks; store.record_feedback then looks the ids up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..core.errors import UserError
from ..core.metrics import TASKS
from ..core.schema import Schema
from . import store

MAX_SHOWN = 20


class BadFeedback(UserError):
    """Labels of the wrong type or class, or malformed ids."""


def native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") else value


def check_label(label: Any, schema: Schema | None, task: str, *, strict: bool) -> tuple[Any, str | None]:
    """The label as stored, or a problem. ``strict`` (JSON over HTTP): the type must be the classes' own; from a
    file, text that spells a class is accepted (a CSV column has one type)."""
    label = native(label)
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
    items: Sequence[tuple[str, Any]], schema: Schema | None, *, strict: bool, task: str | None = None
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
