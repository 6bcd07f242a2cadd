"""The preprocessing built from the feature schema (core/schema.py), and tables made to fit it.

``infer`` reads the schema off the training split (prepare, with the column roles of data/roles.py),
``preprocessor`` builds the imputing, scaling and encoding step every model family sits behind, and ``conform``
gives any table (holdout, served rows, a batch chunk) the training columns, order and types.

Each kind of feature is encoded so that the design matrix stays small whatever the column holds: numbers as they
are (imputed, scaled), low-cardinality text as one-hot columns, high-cardinality text as one number per class
(scikit-learn's TargetEncoder: the target's mean per value, cross-fitted so a row never sees its own target;
missing values are their own value), dates and times as calendar features (training/calendar.py).
training/budget.py estimates the matrix's size from these rules before anything is fitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

if TYPE_CHECKING:  # preprocessor() imports scikit-learn when it builds one: conform() needs pandas only
    from sklearn.compose import ColumnTransformer

from ..core import decision
from ..core.decision import native
from ..core.errors import UserError
from ..core.metrics import TASKS
from ..core.schema import Feature, Kind, Schema


class SchemaMismatch(UserError):
    """A table does not have the columns the model was trained on."""


def infer(
    frame: pd.DataFrame,
    target: str,
    task: str,
    kinds: Mapping[str, Kind] | None = None,
    positive_class: object = None,
) -> Schema:
    """The features kinds names (column -> kind, in the table's order; the roles of data/roles.py that are
    features); without kinds, every column but the target: numbers numeric, anything else categorical. A binary
    target's positive class is positive_class (prepare.positive_class) or its minority class, with its share of
    the rows."""
    by_type: dict[str, Kind] = {
        str(column): "numeric" if ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype) else "categorical"
        for column, dtype in frame.drop(columns=[target]).dtypes.items()
    }
    chosen = by_type if kinds is None else kinds
    features = tuple(Feature(name=name, kind=kind, dtype=str(frame[name].dtype)) for name, kind in chosen.items())
    if not TASKS[task].has_classes:
        return Schema(target=target, task=task, features=features)
    counts = {native(label): int(n) for label, n in frame[target].value_counts().items()}
    positive = decision.positive_class(counts, positive_class, target)
    share = round(counts[positive] / sum(counts.values()), 6) if positive is not None else None
    return Schema(target, task, features, tuple(sorted(counts)), positive_class=positive, positive_share=share)


MISSING_CATEGORY = "(missing)"  # a high-cardinality column's missing value, encoded as a value of its own


def preprocessor(schema: Schema, *, scale: bool = True) -> ColumnTransformer:
    """Impute missing values; scale numbers (``scale``: not for trees, whose splits the float32 ONNX inputs would
    cross, see models.Family.scale_inputs); one-hot encode categories (unknown ones ignored); target-encode
    high-cardinality text (unknown values get the target's mean); dates and times as calendar features."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

    from .calendar import CalendarFeatures

    def scaled(steps: list[tuple[str, Any]]) -> Pipeline:
        return Pipeline(steps + ([("scale", StandardScaler())] if scale else []))

    median = ("impute", SimpleImputer(strategy="median"))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    many = [
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
        ("encode", TargetEncoder(random_state=0)),
    ]
    return ColumnTransformer(
        [
            ("numeric", scaled([median]), schema.of_kind("numeric")),
            ("categorical", categorical, schema.of_kind("categorical")),
            ("high_cardinality", scaled(many), schema.of_kind("high_cardinality")),
            ("datetime", scaled([("calendar", CalendarFeatures()), median]), schema.of_kind("datetime")),
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
