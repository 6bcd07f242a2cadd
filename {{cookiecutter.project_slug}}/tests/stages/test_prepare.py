"""prepare: the split and the schema written, duplicates removed before the split, the counts reported."""

from __future__ import annotations

import pandas as pd

from {{ cookiecutter.package_name }}.core.reports import Prepared
from {{ cookiecutter.package_name }}.stages import ingest, prepare

from ..helpers import PATHS


def test_run_writes_the_split_and_the_schema(tmp_project, cfg) -> None:
    ingest.run(cfg)
    schema = prepare.run(cfg)
    assert (PATHS.features).exists()
    assert schema.target == cfg.ingest.target
    assert "plan" in schema.of_kind("categorical")


def test_duplicates_are_removed_before_the_split_so_none_straddles_it(tmp_project, cfg) -> None:
    frame = ingest.run(cfg)
    pd.concat([frame] * 3, ignore_index=True).to_parquet(PATHS.raw, index=False)
    prepare.run(cfg)
    train = pd.read_parquet(PATHS.train)
    test = pd.read_parquet(PATHS.holdout)
    unique = frame.drop_duplicates()
    assert len(train) + len(test) <= len(unique)
    assert train.merge(test, how="inner").empty, "no row is in both train and holdout"
    counts = Prepared.load(PATHS.prepared)
    assert counts.rows_in == 3 * len(frame)
    assert counts.duplicates_removed == 3 * len(frame) - len(unique)
    assert counts.train_rows == len(train) and counts.holdout_rows == len(test)
