"""Date and time columns as a handful of numbers: never one column per timestamp.

A ``datetime`` feature (data/roles.py) reaches the model as text (or a Parquet timestamp) and leaves
``CalendarFeatures`` as its year, month, day of week (Monday 0), hour (only when the training values have times of
day) and days since the earliest training value; a value that does not read as a date is missing (NaN), which the
imputer after it fills like any missing number. Values are read by data/tables.parse_dates (any common format, UTC).

onnxruntime has no date parser, so a model with a datetime feature is not exported to ONNX: registration logs the
one line why, and the service and batch run it on scikit-learn (docs/serving.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..data.tables import parse_dates

EPOCH = pd.Timestamp(0, tz="UTC")
DAY = pd.Timedelta(days=1)
PARTS = ("year", "month", "day_of_week", "hour", "days")


def _columns(X: Any) -> list[pd.Series]:
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
    return [frame.iloc[:, j] for j in range(frame.shape[1])]


class CalendarFeatures(TransformerMixin, BaseEstimator):
    """Each column of dates and times as year, month, day_of_week, hour (when present) and days since the earliest
    training date."""

    def fit(self, X: Any, y: Any = None) -> CalendarFeatures:  # noqa: ARG002 (scikit-learn's API)
        columns = _columns(X)
        self.columns_ = [str(c.name) for c in columns]
        self.n_features_in_ = len(columns)
        self.origin_days_: list[float] = []
        self.has_hours_: list[bool] = []
        for column in columns:
            stamps = parse_dates(column).dropna()
            self.origin_days_.append(float((stamps.min() - EPOCH) / DAY) if len(stamps) else 0.0)
            self.has_hours_.append(bool(len(stamps) and (stamps.dt.floor("D") != stamps).any()))
        return self

    def transform(self, X: Any) -> np.ndarray:
        parts: list[np.ndarray] = []
        for column, origin, hours in zip(_columns(X), self.origin_days_, self.has_hours_, strict=True):
            stamps = parse_dates(column)
            found = [stamps.dt.year, stamps.dt.month, stamps.dt.dayofweek]
            if hours:
                found.append(stamps.dt.hour)
            found.append((stamps - EPOCH) / DAY - origin)
            parts.extend(pd.Series(part).astype("float64").to_numpy() for part in found)
        return np.column_stack(parts) if parts else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:  # noqa: ARG002 (scikit-learn's API)
        return np.asarray(
            [
                f"{name}_{part}"
                for name, hours in zip(self.columns_, self.has_hours_, strict=True)
                for part in PARTS
                if hours or part != "hour"
            ],
            dtype=object,
        )
