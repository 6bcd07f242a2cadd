"""prepare: rows without a target counted and left out, exact duplicates removed, the column roles shown, then a
seeded split of the validated data (the holdout is for evaluate). The harvested rows
(paths.harvested, under paths.external: make harvest writes them) join train only, so the holdout stays frozen
whatever a harvest adds (data/split.py).

The order matters: the missing targets are counted on the raw rows, duplicates are judged on the whole raw row
(identifiers included) before any column is left out, and the split keeps rows with identical features on one side
(data/split.py). The roles (data/roles.py) come from params.yaml ``prepare.roles`` where it names them, else are
inferred, and are printed on every run with their reasons and any likely target leak. Before anything is fitted,
the design matrix's size is checked against ``prepare.memory_budget_gb`` (training/budget.py).

Writes the two splits (every raw column: identifiers stay as the batch key, and a champion trained on other
columns can still be scored on the same rows), the feature schema (features.json) and the row counts
(reports/prepare.json, which evaluate logs to the candidate's MLflow run).
"""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import pandas as pd

from ..core.config import Config
from ..core.errors import UserError
from ..core.metrics import IMBALANCED_METRIC, IMBALANCED_SHARE, TASKS
from ..core.reports import Prepared
from ..core.schema import Kind, Schema
from ..data import roles, split
from ..data.tables import read_table
from ..training import budget, features

log = logging.getLogger(__name__)


def run(cfg: Config) -> Schema:
    paths, target = cfg.paths, cfg.ingest.target
    raw = pd.read_parquet(paths.raw)
    rows, missing = split.labelled(raw, target)
    if missing:
        log.warning(
            "%d of %d row(s) (%.1f%%) have no target %r: left out", missing, len(raw), 100 * missing / len(raw), target
        )
    unique, duplicates = split.deduplicate(rows)
    if duplicates:
        log.warning(
            "removed %d exact duplicate row(s) of %d (whole rows, identifiers included) before the split, so no row is "
            "in both train and holdout",
            duplicates,
            len(rows),
        )
    candidates = unique.drop(columns=list(cfg.ingest.drop_columns))
    found = roles.infer(candidates, target, TASKS[cfg.task].has_classes, cfg.prepare.roles)
    roles.show(found, target)
    kinds = {r.column: cast(Kind, r.role) for r in found if r.is_feature}
    if not kinds:
        raise UserError(
            f"no column is a feature (roles: {', '.join(f'{r.column} {r.role}' for r in found)}): give one a feature "
            "role (numeric, categorical, high_cardinality, datetime) in params.yaml prepare.roles"
        )
    groups = split.feature_groups(unique, list(kinds))
    identical = int((np.bincount(groups)[groups] > 1).sum())
    train, test = split.split(
        unique,
        target,
        test_size=cfg.prepare.test_size,
        seed=cfg.prepare.seed,
        stratify=cfg.prepare.stratify,
        group_on=list(kinds),
    )
    harvested = 0
    if paths.harvested.exists():  # under paths.external, which dvc.yaml lists as this stage's dep
        train, harvested = split.add_harvested(train, test, read_table(paths.harvested), target, features=list(kinds))
        log.info("added %d harvested row(s) from %s to train (the holdout never takes any)", harvested, paths.harvested)
    schema = features.infer(train, target, cfg.task, kinds, cfg.prepare.positive_class)
    log_positive_class(schema, cfg.prepare.positive_class is not None)
    size = budget.check(schema, train, cfg.prepare.memory_budget_gb)
    for path in (paths.train, paths.holdout, paths.features):
        path.parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(paths.train, index=False)
    test.to_parquet(paths.holdout, index=False)
    schema.save(paths.features)
    Prepared(
        rows_in=len(raw),
        missing_target_removed=missing,
        missing_target_share=missing / len(raw),
        duplicates_removed=duplicates,
        train_rows=len(train),
        holdout_rows=len(test),
        identical_feature_rows=identical,
        harvested_rows=harvested,
    ).save(paths.prepared)
    log.info(
        "split %d rows (%d without a target, %d duplicate(s) removed; %d share their features with another row and "
        "stay on its side): %d train, %d holdout; %d features, %d design-matrix columns (about %.2f GiB to fit)",
        len(raw),
        missing,
        duplicates,
        identical,
        len(train),
        len(test),
        len(schema.features),
        size.columns,
        size.bytes / budget.GIB,
    )
    return schema


def log_positive_class(schema: Schema, configured: bool) -> None:
    """Name the positive class of a binary target (what f1, precision, recall and average precision score, and the
    threshold is about), and the metric it makes the default when it is rare."""
    if schema.positive_class is None or schema.positive_share is None:
        return
    log.info(
        "positive class %r (%s): %.1f%% of the training rows",
        schema.positive_class,
        "prepare.positive_class" if configured else "the minority class; set prepare.positive_class to choose",
        100 * schema.positive_share,
    )
    if schema.positive_share < IMBALANCED_SHARE:
        log.info(
            "under %.0f%% positives: train.metric and register.metric default to %s (unless params.yaml sets them)",
            100 * IMBALANCED_SHARE,
            IMBALANCED_METRIC,
        )
