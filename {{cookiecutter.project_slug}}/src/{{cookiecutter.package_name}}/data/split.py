"""The rows prepare hands on: rows without a target counted and left out first, exact duplicates removed, then a
seeded split into train and holdout that keeps rows with identical features on one side.

Duplicates are judged on the whole raw row, identifiers included, and removed **before** the split: a row copied
into both parts would be scored by the holdout as remembered rather than predicted (every row duplicated ten times
once scored a perfect holdout). Rows that differ only in a column that is no feature (two events with the same
values under different ids) are not duplicates and both stay, but the split keeps them together (a grouped split
on the feature values), so the holdout never scores a row whose features it was trained on. The harvested rows
(labelled production rows, monitoring/harvest.py) are then added to train only.

The holdout is frozen: it is split from the source's rows alone, with a fixed seed, and harvested rows never join it
(they live in a file of their own). So the holdout the gate scores on stays the same row for row whatever a harvest,
and the retraining pull request that carries it, adds: no new label can move a row into or out of it. A harvested
row whose features equal a holdout row's is left out of train too, so the holdout stays unseen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..core.errors import UserError

log = logging.getLogger(__name__)


def labelled(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """The rows with a target, and how many had none (they cannot be learned from or scored)."""
    kept = frame.dropna(subset=[target]).reset_index(drop=True)
    if kept.empty:
        raise UserError(f"no row has a value in the target column {target!r}: nothing to learn from")
    return kept, len(frame) - len(kept)


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the first of every group of identical rows (all columns, the target and identifiers included)."""
    kept = frame.drop_duplicates(keep="first").reset_index(drop=True)
    return kept, len(frame) - len(kept)


def feature_groups(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """A group number per row: rows with identical values in ``columns`` share one (missing equals missing)."""
    if not columns:
        return np.arange(len(frame))
    keys = pd.util.hash_pandas_object(frame[list(columns)], index=False)
    return pd.factorize(keys)[0]


def _check_strata(labels: pd.Series, target: str) -> None:
    counts = labels.value_counts()
    rare = counts[counts < 2]
    if len(rare):
        raise UserError(
            f"prepare.stratify: class(es) {', '.join(map(repr, rare.index.tolist()[:5]))} of {target!r} have a "
            f"single row, and a stratified split needs at least 2 per class: set prepare.stratify: false, or "
            f"is {target!r} really a class label (task: regression)?"
        )


def split(
    frame: pd.DataFrame,
    target: str,
    *,
    test_size: float,
    seed: int,
    stratify: bool,
    group_on: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and holdout. Rows without a target are dropped first; rows with identical ``group_on`` values (the
    features) land on the same side, the groups split with the share and strata of ``test_size``/``stratify``."""
    from sklearn.model_selection import train_test_split

    rows, dropped = labelled(frame, target)
    if dropped:
        log.warning("dropped %d row(s) with a missing target %r", dropped, target)
    groups = feature_groups(rows, group_on)
    firsts = pd.Series(np.arange(len(rows))).groupby(groups, sort=True).first().to_numpy()
    grouped = len(firsts) < len(rows)
    leaders = rows.iloc[firsts] if grouped else rows  # a row per group: the groups are split, each row follows its own
    if stratify:
        _check_strata(leaders[target], target)
    try:
        train, held = train_test_split(
            leaders, test_size=test_size, random_state=seed, stratify=leaders[target] if stratify else None
        )
    except ValueError as error:
        raise UserError(f"cannot split {len(rows)} row(s) with prepare.test_size {test_size}: {error}") from None
    if not grouped:
        return train, held
    in_holdout = np.isin(groups, groups[held.index.to_numpy()])  # rows' index is their position (labelled())
    return rows[~in_holdout], rows[in_holdout]


def row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One text key per row over ``columns``; numbers as floats, so 52 (an int in a CSV) and 52.0 (a served
    value) are equal."""
    parts = []
    for column in columns:
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            parts.append(numbers.map(lambda v: "" if pd.isna(v) else repr(float(v))))
        else:
            parts.append(values.map(lambda v: "" if pd.isna(v) else str(v)))
    if not parts:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return pd.concat(parts, axis=1).astype(object).agg("\x1f".join, axis=1)


def add_harvested(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    harvested: pd.DataFrame,
    target: str,
    *,
    features: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """``train`` with the harvested rows that are new to it: none whose features equal a holdout row's, none that
    repeats a train row, no row without a target. Returns the new train and how many rows it gained.

    ``features``: the columns a harvested row must have (the model's; default every column of ``train`` but the
    target). train's other columns (identifiers, columns left out) are missing in the rows added."""
    features = [c for c in train.columns if c != target] if features is None else list(features)
    needed = [*features, target]
    if missing := [c for c in needed if c not in harvested.columns]:
        raise UserError(
            f"the harvested rows lack column(s) {', '.join(map(str, missing))} of the data: they were harvested for "
            "another schema; harvest again from the serving layer, or remove the harvested file (paths.harvested)"
        )
    rows = harvested[needed].dropna(subset=[target])
    keys = row_keys(rows, features)
    seen = set(row_keys(holdout, features))
    whole = row_keys(rows, needed)
    rows = rows[~keys.isin(seen) & ~whole.isin(set(row_keys(train, needed))) & ~whole.duplicated()]
    if rows.empty:
        return train, 0
    return keep_types(pd.concat([train, rows], ignore_index=True), train), len(rows)


def keep_types(combined: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """``combined``'s columns in ``original``'s types where they still fit (ints stay ints when none is missing)."""
    for column in original.columns:
        if column in combined.columns and not combined[column].isna().any():
            with contextlib.suppress(TypeError, ValueError):
                combined[column] = combined[column].astype(original[column].dtype)
    return combined
