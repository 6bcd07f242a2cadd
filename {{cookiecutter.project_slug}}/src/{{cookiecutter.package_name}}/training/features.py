"""The preprocessing built from the feature schema (core/schema.py), and tables made to fit it.

``infer`` reads the schema off the training split (prepare), ``preprocessor`` builds the imputing, scaling and
encoding step every model family sits behind, and ``conform`` gives any table (holdout, served rows, a batch chunk)
the training columns, order and types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

if TYPE_CHECKING:  # preprocessor() imports scikit-learn when it builds one: conform() needs pandas only
    from sklearn.compose import ColumnTransformer

from ..core import decision
from ..core.decision import native
from ..core.errors import UserError
from ..core.metrics import TASKS
from ..core.schema import Feature, Schema


class SchemaMismatch(UserError):
    """A table does not have the columns the model was trained on."""


def infer(frame: pd.DataFrame, target: str, task: str, positive_class: object = None) -> Schema:
    """Numeric columns stay numeric; text, category and boolean columns are categorical. A binary target's positive
    class is ``positive_class`` (prepare.positive_class) or its minority class, with its share of the rows."""
    features = tuple(
        Feature(
            name=str(column),
            kind="numeric" if ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype) else "categorical",
            dtype=str(dtype),
        )
        for column, dtype in frame.drop(columns=[target]).dtypes.items()
    )
    if not TASKS[task].has_classes:
        return Schema(target=target, task=task, features=features)
    counts = {native(label): int(n) for label, n in frame[target].value_counts().items()}
    positive = decision.positive_class(counts, positive_class, target)
    share = round(counts[positive] / sum(counts.values()), 6) if positive is not None else None
    return Schema(target, task, features, tuple(sorted(counts)), positive_class=positive, positive_share=share)


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
