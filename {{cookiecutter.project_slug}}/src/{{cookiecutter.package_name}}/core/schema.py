"""The feature schema: which columns a model takes and how each is encoded, its task, its classes and how its
probabilities become labels (the positive class of a binary target and the tuned threshold: core/decision.py).

prepare writes it to data/processed/features.json (``paths.features``); train, evaluate, register, serving and
monitoring read it, so every consumer agrees on the columns and their kinds. It is serialised one way
(``Schema.to_dict``/``from_dict``): features.json, the `features.json` artifact of the registered model's run and the
BentoML model's metadata. Building one from a table (``training.features.infer``) needs pandas; this module does not.
prepare writes it without a threshold; train tunes one and logs the schema with it in its run (``with_threshold``),
which is the schema register, serving and monitoring read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import decision
from .decision import Threshold, native

if TYPE_CHECKING:
    import numpy as np

# How a feature is encoded (training/features.preprocessor; data/roles.py says which column gets which). Only
# ``numeric`` features take numbers: every other kind reaches the model as text (a category, or a date and time that
# the model turns into calendar features), which is all the service, the batch job and the ONNX export ask of a kind.
Kind = Literal["numeric", "categorical", "high_cardinality", "datetime"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical", "high_cardinality", "datetime")
NUMERIC_TYPES = {"double", "float", "long", "integer"}  # MLflow signature types that are numeric features


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    dtype: str


@dataclass(frozen=True)
class Schema:
    target: str
    task: str
    features: tuple[Feature, ...]
    classes: tuple = ()
    positive_class: Any = None  # binary targets: the class f1/precision/recall/average precision score
    positive_share: float | None = None  # its share of the training rows (the gate's default metric follows it)
    threshold: Threshold | None = None  # tuned by train; None: each row is its most probable class

    def labels(self, probabilities: np.ndarray) -> np.ndarray:
        """The label of each row of class probabilities (columns in ``classes`` order), by core/decision.py's rule."""
        value = self.threshold.value if self.threshold is not None else None
        return decision.labels(probabilities, self.classes, self.positive_class, value)

    def with_threshold(self, threshold: Threshold | None) -> Schema:
        return replace(self, threshold=threshold)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def of_kind(self, kind: Kind) -> list[str]:
        return [f.name for f in self.features if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = [native(c) for c in self.classes]
        data["positive_class"] = native(self.positive_class)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """The schema ``to_dict`` wrote (``target`` may be absent: a served model needs no target)."""
        return cls(
            target=data.get("target", ""),
            task=data["task"],
            features=tuple(Feature(name=f["name"], kind=f["kind"], dtype=f["dtype"]) for f in data["features"]),
            classes=tuple(data.get("classes", ())),
            positive_class=data.get("positive_class"),
            positive_share=data.get("positive_share"),
            threshold=Threshold(**data["threshold"]) if data.get("threshold") else None,
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Schema:
        return cls.from_dict(json.loads(Path(path).read_text()))


def from_signature(signature: Any, model: Any) -> Schema:
    """The feature schema a logged model was trained with: names and kinds from its MLflow signature, classes
    (and so the task) from the fitted estimator, and its threshold when it applies one (scikit-learn's
    FixedThresholdClassifier: ``threshold``, ``pos_label``). It travels with every registered version."""
    kinds = tuple(
        Feature(
            name=column["name"],
            kind="numeric" if column["type"] in NUMERIC_TYPES else "categorical",
            dtype="float64" if column["type"] in NUMERIC_TYPES else "object",
        )
        for column in signature.inputs.to_dict()
    )
    classes = getattr(model, "classes_", None)
    task = "classification" if classes is not None else "regression"
    found = tuple(native(c) for c in classes) if classes is not None else ()
    threshold, positive = getattr(model, "threshold", None), getattr(model, "pos_label", None)
    if not isinstance(threshold, float | int) or positive is None:
        threshold = positive = None
    return Schema(
        target="",
        task=task,
        features=kinds,
        classes=found,
        positive_class=native(positive),
        threshold=Threshold(float(threshold), "") if threshold is not None else None,
    )
