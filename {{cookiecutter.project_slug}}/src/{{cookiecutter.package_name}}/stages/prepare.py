"""prepare: split the validated data with a fixed seed; the holdout is kept for evaluate only."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import features
from ..config import Config

log = logging.getLogger(__name__)
RAW = Path("data/raw/dataset.parquet")
OUT = Path("data/processed")


def split(
    frame: pd.DataFrame, target: str, *, test_size: float, seed: int, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows without a target cannot be learned from or scored, so they are dropped before splitting."""
    labelled = frame.dropna(subset=[target]).reset_index(drop=True)
    dropped = len(frame) - len(labelled)
    if dropped:
        log.warning("dropped %d row(s) with a missing target %r", dropped, target)
    strata = labelled[target] if stratify else None
    return train_test_split(labelled, test_size=test_size, random_state=seed, stratify=strata)


def run(cfg: Config, raw: Path = RAW, out: Path = OUT) -> features.Schema:
    frame = pd.read_parquet(raw)
    train, test = split(
        frame, cfg.ingest.target, test_size=cfg.prepare.test_size, seed=cfg.prepare.seed, stratify=cfg.prepare.stratify
    )
    schema = features.infer(train, cfg.ingest.target, cfg.task)
    out.mkdir(parents=True, exist_ok=True)
    train.to_parquet(out / "train.parquet", index=False)
    test.to_parquet(out / "test.parquet", index=False)
    schema.save(out / "features.json")
    log.info(
        "split %d rows: %d train, %d holdout; %d numeric and %d categorical features",
        len(frame),
        len(train),
        len(test),
        len(schema.of_kind("numeric")),
        len(schema.of_kind("categorical")),
    )
    return schema
