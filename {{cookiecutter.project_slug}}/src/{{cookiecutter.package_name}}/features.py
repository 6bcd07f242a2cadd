"""The feature schema (which columns, numeric or categorical) and the preprocessing built from it.

prepare writes the schema to data/processed/features.json; train, evaluate and serving read it, so every
consumer agrees on the columns and their kinds. It is serialised one way (``Schema.to_dict``/``from_dict``):
features.json, the `features.json` artifact of the registered model's run and the BentoML model's metadata.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

if TYPE_CHECKING:  # preprocessor() imports scikit-learn when it builds one: the schema and conform() need pandas only
    from sklearn.compose import ColumnTransformer

from .config import UserError
from .metrics import TASKS

Kind = Literal["numeric", "categorical"]


class SchemaMismatch(UserError):
    """A table does not have the columns the model was trained on."""


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


def infer(frame: pd.DataFrame, target: str, task: str) -> Schema:
    """Numeric columns stay numeric; text, category and boolean columns are categorical."""
    features = tuple(
        Feature(
            name=str(column),
            kind="numeric" if ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype) else "categorical",
            dtype=str(dtype),
        )
        for column, dtype in frame.drop(columns=[target]).dtypes.items()
    )
    classes = tuple(sorted(frame[target].dropna().unique().tolist())) if TASKS[task].has_classes else ()
    return Schema(target=target, task=task, features=features, classes=classes)


NUMERIC_TYPES = {"double", "float", "long", "integer"}  # MLflow signature types that are numeric features


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


def preprocessor(schema: Schema, *, scale: bool = True) -> ColumnTransformer:
    """Impute missing values; scale numbers; one-hot encode categories (unknown categories are ignored)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), schema.of_kind("numeric")),
            ("categorical", categorical, schema.of_kind("categorical")),
        ],
        verbose_feature_names_out=False,
    )


def conform(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Columns in training order with training dtypes; categorical values as strings, missing kept missing (empty
    text is missing too, as in a CSV file)."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise SchemaMismatch(f"missing feature column(s): {', '.join(missing)}")
    out = frame[schema.names].copy()
    for feature in schema.features:
        if feature.kind == "numeric":
            numbers = pd.to_numeric(out[feature.name], errors="coerce")
            bad = numbers.isna() & out[feature.name].notna()
            if bad.any():
                row = bad.idxmax()
                raise SchemaMismatch(
                    f"column {feature.name!r} must be numeric: {bad.sum()} value(s) are not, "
                    f"e.g. {out.at[row, feature.name]!r} in row {row}"
                )
            out[feature.name] = numbers.astype("float64")
        else:
            column = out[feature.name].astype(object)
            out[feature.name] = column.map(str).where(column.notna() & (column != ""), np.nan)
    return out
