"""The rows prepare hands on: exact duplicates removed, then a seeded split into train and holdout, then the
harvested rows (labelled production rows, monitoring/harvest.py) added to train only.

Duplicates are removed **before** the split: a row copied into both parts would be scored by the holdout as
remembered rather than predicted (every row duplicated ten times once scored a perfect holdout).

The holdout is frozen: it is split from the source's rows alone, with a fixed seed, and harvested rows never join it
(they live in a file of their own). So the holdout the gate scores on stays the same row for row whatever a harvest,
and the retraining pull request that carries it, adds: no new label can move a row into or out of it. A harvested
row whose features equal a holdout row's is left out of train too, so the holdout stays unseen.
"""

from __future__ import annotations

import contextlib
import logging

import pandas as pd

from ..core.errors import UserError

log = logging.getLogger(__name__)


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the first of every group of identical rows (all columns, the target included)."""
    kept = frame.drop_duplicates(keep="first").reset_index(drop=True)
    return kept, len(frame) - len(kept)


def split(
    frame: pd.DataFrame, target: str, *, test_size: float, seed: int, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows without a target cannot be learned from or scored, so they are dropped before splitting."""
    from sklearn.model_selection import train_test_split

    labelled = frame.dropna(subset=[target]).reset_index(drop=True)
    dropped = len(frame) - len(labelled)
    if dropped:
        log.warning("dropped %d row(s) with a missing target %r", dropped, target)
    if labelled.empty:
        raise UserError(f"no row has a value in the target column {target!r}: nothing to learn from")
    strata = labelled[target] if stratify else None
    if stratify:
        counts = labelled[target].value_counts()
        rare = counts[counts < 2]
        if len(rare):
            raise UserError(
                f"prepare.stratify: class(es) {', '.join(map(repr, rare.index.tolist()[:5]))} of {target!r} have a "
                f"single row, and a stratified split needs at least 2 per class: set prepare.stratify: false, or "
                f"is {target!r} really a class label (task: regression)?"
            )
    try:
        return train_test_split(labelled, test_size=test_size, random_state=seed, stratify=strata)
    except ValueError as error:
        raise UserError(f"cannot split {len(labelled)} row(s) with prepare.test_size {test_size}: {error}") from None


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
    train: pd.DataFrame, holdout: pd.DataFrame, harvested: pd.DataFrame, target: str
) -> tuple[pd.DataFrame, int]:
    """``train`` with the harvested rows that are new to it: none whose features equal a holdout row's, none that
    repeats a train row, no row without a target. Returns the new train and how many rows it gained."""
    if missing := [c for c in train.columns if c not in harvested.columns]:
        raise UserError(
            f"the harvested rows lack column(s) {', '.join(map(str, missing))} of the data: they were harvested for "
            "another schema; harvest again from the serving layer, or remove the harvested file (paths.harvested)"
        )
    rows = harvested[list(train.columns)].dropna(subset=[target])
    features = [c for c in train.columns if c != target]
    keys = row_keys(rows, features)
    seen = set(row_keys(holdout, features))
    whole = row_keys(rows, list(train.columns))
    rows = rows[~keys.isin(seen) & ~whole.isin(set(row_keys(train, list(train.columns)))) & ~whole.duplicated()]
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
