"""prepare: remove exact duplicate rows, then split the validated data with a fixed seed; the holdout is for evaluate.
The harvested rows (paths.harvested, under paths.external: make harvest writes them) join train only, so the
holdout stays frozen whatever a harvest adds (data/split.py).

Writes the two splits, the feature schema (features.json) and the row counts (reports/prepare.json, which evaluate
logs to the candidate's MLflow run).
"""

from __future__ import annotations

import logging

import pandas as pd

from ..core.config import Config
from ..core.reports import Prepared
from ..core.schema import Schema
from ..data import split
from ..data.tables import read_table
from ..training import features

log = logging.getLogger(__name__)


def run(cfg: Config) -> Schema:
    paths = cfg.paths
    frame = pd.read_parquet(paths.raw)
    unique, duplicates = split.deduplicate(frame)
    if duplicates:
        log.warning(
            "removed %d exact duplicate row(s) of %d before the split, so no row is in both train and holdout",
            duplicates,
            len(frame),
        )
    train, test = split.split(
        unique, cfg.ingest.target, test_size=cfg.prepare.test_size, seed=cfg.prepare.seed, stratify=cfg.prepare.stratify
    )
    harvested = 0
    if paths.harvested.exists():  # under paths.external, which dvc.yaml lists as this stage's dep
        train, harvested = split.add_harvested(train, test, read_table(paths.harvested), cfg.ingest.target)
        log.info("added %d harvested row(s) from %s to train (the holdout never takes any)", harvested, paths.harvested)
    schema = features.infer(train, cfg.ingest.target, cfg.task)
    for path in (paths.train, paths.holdout, paths.features):
        path.parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(paths.train, index=False)
    test.to_parquet(paths.holdout, index=False)
    schema.save(paths.features)
    Prepared(
        rows_in=len(frame),
        duplicates_removed=duplicates,
        missing_target_removed=len(unique) - (len(train) - harvested) - len(test),
        train_rows=len(train),
        holdout_rows=len(test),
        harvested_rows=harvested,
    ).save(paths.prepared)
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
