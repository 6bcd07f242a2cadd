"""The rows prepare hands on: exact duplicates removed, then a seeded split into train and holdout.

Duplicates are removed **before** the split: a row copied into both parts would be scored by the holdout as
remembered rather than predicted (every row duplicated ten times once scored a perfect holdout).
"""

from __future__ import annotations

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
