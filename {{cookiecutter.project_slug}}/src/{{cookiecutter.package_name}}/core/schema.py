"""The feature schema: which columns a model takes and how each is encoded, its task and its classes.

prepare writes it to data/processed/features.json (``paths.features``); train, evaluate, register, serving and
monitoring read it, so every consumer agrees on the columns and their kinds. It is serialised one way
(``Schema.to_dict``/``from_dict``): features.json, the `features.json` artifact of the registered model's run and the
BentoML model's metadata. Building one from a table (``training.features.infer``) needs pandas; this module does not.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

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

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def of_kind(self, kind: Kind) -> list[str]:
        return [f.name for f in self.features if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = [c.item() if hasattr(c, "item") else c for c in self.classes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """The schema ``to_dict`` wrote (``target`` may be absent: a served model needs no target)."""
        return cls(
            target=data.get("target", ""),
            task=data["task"],
            features=tuple(Feature(name=f["name"], kind=f["kind"], dtype=f["dtype"]) for f in data["features"]),
            classes=tuple(data.get("classes", ())),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Schema:
        return cls.from_dict(json.loads(Path(path).read_text()))


def from_signature(signature: Any, model: Any) -> Schema:
    """The feature schema a logged model was trained with: names and kinds from its MLflow signature, classes
    (and so the task) from the fitted estimator. It travels with every registered version."""
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
    labels = tuple(c.item() if hasattr(c, "item") else c for c in classes) if classes is not None else ()
    return Schema(target="", task=task, features=kinds, classes=labels)
