"""prepare: the split and the schema written, missing targets and duplicates out before the split (which keeps
identical features on one side), the roles shown, the counts reported."""

from __future__ import annotations

import pandas as pd

from {{ cookiecutter.package_name }}.core.reports import Prepared
from {{ cookiecutter.package_name }}.stages import ingest, prepare

from ..helpers import PATHS, write_params


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


def test_missing_targets_are_counted_first_and_duplicates_judged_on_the_whole_raw_row(tmp_project, cfg) -> None:
    # Given raw rows where some lack a target, some are exact copies, and some repeat another's features under a new id
    frame = ingest.run(cfg)
    frame.loc[:23, "churned"] = None
    same_features = frame.iloc[30:60].assign(customer_id=lambda f: f["customer_id"] + "-b")
    raw = pd.concat([frame, frame.iloc[100:110], same_features], ignore_index=True)
    raw.to_parquet(PATHS.raw, index=False)
    # When prepare runs (customer_id is in ingest.drop_columns: left out only after duplicates were judged)
    schema = prepare.run(cfg)
    # Then the counts say so, in that order, with the missing targets' share
    counts = Prepared.load(PATHS.prepared)
    assert counts.rows_in == len(raw) == 280
    assert counts.missing_target_removed == 24 and counts.missing_target_share == 24 / 280
    assert counts.duplicates_removed == 10, "the rows with the same features under other ids are no duplicates"
    assert counts.identical_feature_rows == 60
    assert (
        counts.rows_in
        == counts.missing_target_removed + counts.duplicates_removed + counts.train_rows + counts.holdout_rows
    )
    # and no feature row is on both sides, while the holdout keeps every raw column (the batch key, a champion's)
    train, test = pd.read_parquet(PATHS.train), pd.read_parquet(PATHS.holdout)
    assert train[schema.names].merge(test[schema.names]).empty
    assert "customer_id" not in schema.names and {"customer_id", "lifetime_spend"} <= set(test.columns)


def test_the_roles_are_printed_and_an_identifier_left_out(tmp_project, cfg, caplog) -> None:
    params = cfg.model_dump(by_alias=True, mode="json")
    params["ingest"]["drop_columns"] = ["lifetime_spend"]  # customer_id stays: its role keeps it out of the features
    mine = write_params(tmp_project, params)
    ingest.run(mine)
    with caplog.at_level("INFO"):
        schema = prepare.run(mine)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.split()[:2] == ["customer_id", "identifier"] for line in lines)
    assert any(line.split()[:2] == ["plan", "categorical"] for line in lines)
    assert "customer_id" not in schema.names and "plan" in schema.names
