"""prepare: remove exact duplicate rows, then split the validated data with a fixed seed; the holdout is for evaluate.

Duplicates are removed **before** the split: a row copied into both parts would be scored by the holdout as
remembered rather than predicted (every row duplicated ten times once scored a perfect holdout). The counts go to
the log and to reports/prepare.json, which evaluate logs to the candidate's MLflow run.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import features
from ..config import Config, UserError

log = logging.getLogger(__name__)


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the first of every group of identical rows (all columns, the target included)."""
    kept = frame.drop_duplicates(keep="first").reset_index(drop=True)
    return kept, len(frame) - len(kept)


def split(
    frame: pd.DataFrame, target: str, *, test_size: float, seed: int, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows without a target cannot be learned from or scored, so they are dropped before splitting."""
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


def run(cfg: Config) -> features.Schema:
    paths = cfg.paths
    frame = pd.read_parquet(paths.raw)
    unique, duplicates = deduplicate(frame)
    if duplicates:
        log.warning(
            "removed %d exact duplicate row(s) of %d before the split, so no row is in both train and holdout",
            duplicates,
            len(frame),
        )
    train, test = split(
        unique, cfg.ingest.target, test_size=cfg.prepare.test_size, seed=cfg.prepare.seed, stratify=cfg.prepare.stratify
    )
    schema = features.infer(train, cfg.ingest.target, cfg.task)
    for path in (paths.train, paths.holdout, paths.features, paths.prepared):
        path.parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(paths.train, index=False)
    test.to_parquet(paths.holdout, index=False)
    schema.save(paths.features)
    counts = {
        "rows_in": len(frame),
        "duplicates_removed": duplicates,
        "missing_target_removed": len(unique) - len(train) - len(test),
        "train_rows": len(train),
        "holdout_rows": len(test),
    }
    paths.prepared.write_text(json.dumps(counts, indent=2) + "\n")
    log.info(
        "split %d rows (%d duplicate(s) removed): %d train, %d holdout; %d numeric and %d categorical features",
        len(frame),
        duplicates,
        len(train),
        len(test),
        len(schema.of_kind("numeric")),
        len(schema.of_kind("categorical")),
    )
    return schema
