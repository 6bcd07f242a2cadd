"""How a classifier's class probabilities become labels, the one rule everything that predicts labels shares (evaluate,
the service, batch in-process and on Spark, the ONNX path, monitoring, the review).

- **The positive class** of a binary target: the class that f1, precision, recall and average precision score,
  and that the threshold is about. ``prepare.positive_class`` names it; left out, it is the minority class (on a
  tie, the second sorted label, scikit-learn's own choice). prepare records it in the feature schema.
- **The threshold**: train tunes it on cross-validation (``train.threshold``, training/threshold.py). A row is the
  positive class when its probability is **at least** the threshold, else the other class: scikit-learn's
  ``FixedThresholdClassifier`` rule, which the logged model applies in its own ``predict``. Without a threshold
  (more than two classes, ``objective: none``, regression) a row is its most probable class. What the threshold
  is tuned for is ``ThresholdTuning`` (params.yaml's train.threshold, checked with the rest of the config).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from .errors import UserError

EXAMPLE = "{precision_at_recall: 0.8}"  # the mapping form (no f-string: its braces would be Jinja's in this template)
THRESHOLD_OBJECTIVES = {  # objective -> what its target is (None: it takes none)
    "none": None,
    "f1": None,
    "precision_at_recall": "the recall to keep",
    "recall_at_precision": "the precision to keep",
}


class ThresholdTuning(BaseModel):
    """train.threshold: what a binary classifier's decision threshold is tuned for on cross-validation
    (training/threshold.py). ``objective: f1``, ``{precision_at_recall: 0.8}``, ``{recall_at_precision: 0.5}``
    or ``none`` (the most probable class, 0.5 for two classes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: str
    target: float | None = None  # the recall or precision to keep, from the mapping form

    @model_validator(mode="before")
    @classmethod
    def _mapping_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("objective"), dict):
            if len(data["objective"]) != 1:
                raise ValueError(f"objective: {data['objective']!r} must name one objective, e.g. " + EXAMPLE)
            ((name, target),) = data["objective"].items()
            return {k: v for k, v in data.items() if k != "objective"} | {"objective": name, "target": target}
        return data

    @model_validator(mode="after")
    def _known(self) -> ThresholdTuning:
        forms = "none, f1, {precision_at_recall: <recall>} or {recall_at_precision: <precision>}"
        if self.objective not in THRESHOLD_OBJECTIVES:
            raise ValueError(f"objective: {self.objective!r} is not one of {forms}")
        needs = THRESHOLD_OBJECTIVES[self.objective]
        if needs is None and self.target is not None:
            raise ValueError(f"objective: {self.objective!r} takes no value; use one of {forms}")
        if needs is not None and (self.target is None or not 0 < self.target <= 1):
            raise ValueError(
                f"objective: {self.objective} needs {needs} between 0 and 1, e.g. "
                + EXAMPLE.replace("precision_at_recall", self.objective)
                + f"; got {self.target!r}"
            )
        return self

    @property
    def describe(self) -> str:
        return self.objective if self.target is None else f"{self.objective} {self.target:g}"


@dataclass(frozen=True)
class Threshold:
    """A tuned decision threshold: the positive class's probability from which a row is labelled positive."""

    value: float
    objective: str  # what it was tuned for: "f1", "precision_at_recall 0.8", "recall_at_precision 0.5"


def native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (labels are stored as JSON)."""
    return value.item() if hasattr(value, "item") else value


def minority(counts: Mapping[Any, int]) -> Any:
    """The rarer of two classes; on a tie the second sorted label."""
    ordered = sorted(counts)
    return min(reversed(ordered), key=lambda label: counts[label])


def positive_class(counts: Mapping[Any, int], configured: Any, target: str) -> Any:
    """The positive class of a target with these class counts: ``configured`` (prepare.positive_class) when set,
    else the minority class; None for more than two classes. A configured value that is not a class is an error
    naming the classes."""
    classes = sorted(counts)
    if configured is None:
        return native(minority(counts)) if len(classes) == 2 else None
    if len(classes) != 2:
        raise UserError(
            f"prepare.positive_class: {configured!r} applies to a binary target, and {target!r} has {len(classes)} "
            f"classes ({', '.join(map(repr, classes[:10]))}): leave the key out"
        )
    for label in classes:  # the value as YAML read it, or as text (a number written as "1")
        same = label == configured and isinstance(label, bool) == isinstance(configured, bool)
        if same or str(label) == str(configured):
            return native(label)
    hint = ""
    if isinstance(configured, bool):
        hint = ' (YAML reads an unquoted yes/no/true/false/on/off as a boolean: quote it, e.g. "Yes")'
    raise UserError(
        f"prepare.positive_class: {configured!r} is not a class of {target!r}; its classes are "
        f"{', '.join(map(repr, classes))}{hint}"
    )


def labels(
    probabilities: np.ndarray, classes: Sequence[Any], positive: Any = None, threshold: float | None = None
) -> np.ndarray:
    """The label of each row of ``probabilities`` (columns in ``classes`` order): the positive class from
    ``threshold`` on, else the other one; the most probable class when there is no threshold."""
    known = np.asarray(classes)
    if threshold is None or positive is None or len(known) != 2:
        return known[np.argmax(probabilities, axis=1)]
    column = [native(c) for c in known].index(positive)
    return known[np.where(probabilities[:, column] >= threshold, column, 1 - column)]
