"""The design matrix's size, estimated before anything is fitted, against a memory budget.

The preprocessing (training/features.py) turns each feature into a known number of float64 columns: a number into
one, a category into one per distinct value (one-hot), a high-cardinality column into one per class (one for two
classes or a regression target), a date into up to five calendar numbers. prepare multiplies their sum by the
training rows and by FIT_COPIES, and stops when that exceeds ``prepare.memory_budget_gb`` (default: a quarter of
the memory this process may use), naming the columns that take the most and the role that would shrink them: a
one-hot column with thousands of values as ``high_cardinality`` (or ``identifier``, when it has a value per row).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.errors import UserError
from ..core.metrics import TASKS
from ..core.schema import Feature, Schema

GIB = 1 << 30
# Copies of the design matrix alive while a candidate is fitted: the ColumnTransformer's blocks and their stacked
# result, and the estimator's own (a binned one, for HistGradientBoosting). Measured on the messy table of
# tests/test_messy_table.py with a 1,500-value column one-hot encoded (45,089 rows x 1,524 columns, 524 MiB as
# float64): the peak RSS of a fit on all rows grew by 2.0x that size (logistic_regression) and 2.55x
# (hist_gradient_boosting); a 3-fold cross-validation by 1.4x and 1.9x.
FIT_COPIES = 3
DEFAULT_SHARE = 0.25  # of the memory this process may use, when prepare.memory_budget_gb is left out
CALENDAR_COLUMNS = 5  # year, month, day of week, hour, days since the earliest date
SHOWN = 3  # columns named in the message


@dataclass(frozen=True)
class Estimate:
    rows: int
    widths: dict[str, int]  # feature -> design-matrix columns

    @property
    def columns(self) -> int:
        return sum(self.widths.values())

    @property
    def bytes(self) -> int:
        return self.rows * self.columns * 8 * FIT_COPIES


def memory_limit() -> int:
    """Bytes this process may use: the machine's memory, or its container's limit (cgroup v2 or v1) when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = limit.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def budget_bytes(memory_budget_gb: float | None) -> int:
    return int(memory_budget_gb * GIB) if memory_budget_gb is not None else int(DEFAULT_SHARE * memory_limit())


def width(feature: Feature, values: pd.Series, schema: Schema) -> int:
    """The design-matrix columns one feature becomes (training/features.preprocessor)."""
    if feature.kind == "numeric":
        return 1
    if feature.kind == "datetime":
        return CALENDAR_COLUMNS
    if feature.kind == "high_cardinality":
        classes = len(schema.classes) if TASKS[schema.task].has_classes else 1
        return 1 if classes <= 2 else classes
    return max(1, int(values.nunique()))  # one-hot: a column per value seen in training


def estimate(schema: Schema, train: pd.DataFrame) -> Estimate:
    return Estimate(len(train), {f.name: width(f, train[f.name], schema) for f in schema.features})


def _fix(feature: Feature, columns: int, rows: int) -> str:
    if feature.kind == "categorical":
        better = "identifier" if columns >= 0.5 * rows else "high_cardinality"
        return f"{feature.name!r} (categorical: {columns:,} one-hot columns) -> role {better}"
    return f"{feature.name!r} ({feature.kind}: {columns:,} column(s)) -> role ignore, if it is not needed"


def check(schema: Schema, train: pd.DataFrame, memory_budget_gb: float | None) -> Estimate:
    """The estimate, or a UserError naming the columns that take the most and the role to give them."""
    found = estimate(schema, train)
    limit = budget_bytes(memory_budget_gb)
    if found.bytes <= limit:
        return found
    kinds = {f.name: f for f in schema.features}
    largest = sorted(found.widths.items(), key=lambda item: -item[1])[:SHOWN]
    where = "prepare.memory_budget_gb" if memory_budget_gb is not None else "a quarter of this machine's memory"
    raise UserError(
        f"the features would need about {found.bytes / GIB:.3g} GiB to train on ({found.rows:,} rows x "
        f"{found.columns:,} float64 columns, x{FIT_COPIES} while fitting), over the budget of "
        f"{limit / GIB:.3g} GiB ({where}). The widest: "
        + "; ".join(_fix(kinds[name], columns, found.rows) for name, columns in largest)
        + ". Set the role in params.yaml prepare.roles (or raise prepare.memory_budget_gb)"
    )
