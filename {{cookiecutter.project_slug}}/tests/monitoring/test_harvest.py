"""Harvest: trusted labelled served rows become a new DVC version of the harvested file, which trains, while the
holdout the gate scores on stays the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sqlalchemy import update

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.reports import Prepared
from {{ cookiecutter.package_name }}.monitoring import harvest
from {{ cookiecutter.package_name }}.predictions import database, store

from ..helpers import PATHS, run_pipeline

pytestmark = pytest.mark.slow  # DVC, GX and two pipeline runs

DATA = Path("data/external/customers.csv")


def sh(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout


def served(engine, cfg: config.Config, rows: pd.DataFrame, names: list[str], request_id: str) -> list[tuple]:
    """Rows as the service writes them (features kept), each labelled with its true target from a file (the
    trusted path); their prediction keys."""
    created = database.now()
    store.insert(
        engine,
        [
            {
                "source": database.ONLINE,
                "request_id": request_id,
                "row_index": i,
                "created_at": created,
                "model_name": cfg.tracking.model_name,
                "model_version": "1",
                "inputs": {n: (None if pd.isna(row[n]) else row[n]) for n in names},
                "prediction": row[cfg.ingest.target],
                "probabilities": None,
            }
            for i, row in enumerate(rows.to_dict("records"))
        ],
    )
    keys = [(request_id, str(i)) for i in range(len(rows))]
    labels = [v.item() if hasattr(v, "item") else v for v in rows[cfg.ingest.target]]
    store.record_feedback(engine, list(zip(keys, labels, strict=True)))
    return keys


def test_harvest_adds_trusted_rows_to_train_only_and_the_holdout_stays_the_same(
    tmp_project: Path, cfg, monkeypatch
) -> None:
    # given a git + DVC project whose external data is tracked, and a champion trained on it
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_project / 'serving.db'}")
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    sh("git", "init", "-q")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    sh(sys.executable, "-m", "dvc", "add", "-q", str(DATA))
    sh(*git, "add", "-A")
    sh(*git, "commit", "-qm", "data")
    run_pipeline(cfg)
    source, holdout, train = DATA.read_bytes(), pd.read_parquet(PATHS.holdout), pd.read_parquet(PATHS.train)
    before = pd.read_csv(DATA)
    names = [c for c in before.columns if c not in (cfg.ingest.target, *cfg.ingest.drop_columns)]
    engine = database.connect(cfg.serving.resolved_db_url)
    # and trusted labels for served rows: 6 new ones (one of them twice) and 3 that are in the data already
    fresh = before.sample(6, random_state=1).assign(tenure_months=lambda f: f["tenure_months"] + 1)
    served(engine, cfg, pd.concat([fresh, fresh.head(1), before.sample(3, random_state=2)]), names, "trusted")
    # and labels that must not train: 4 from before sources were recorded, 2 contradicted by a later label
    other = before.sample(6, random_state=3).assign(tenure_months=lambda f: f["tenure_months"] + 2)
    served(engine, cfg, other.head(4), names, "unverified")
    with engine.begin() as connection:
        request = select_request(connection, "unverified")
        connection.execute(
            update(database.feedback).where(database.feedback.c.request == request).values(source="unverified")
        )
    disputed = served(engine, cfg, other.tail(2), names, "disputed")
    classes = sorted(before[cfg.ingest.target].unique())
    flipped = [next(c for c in classes if c != v) for v in other.tail(2)[cfg.ingest.target]]
    store.record_feedback(
        engine, [(k, v.item() if hasattr(v, "item") else v) for k, v in zip(disputed, flipped, strict=True)]
    )

    # when harvested
    result = harvest.run(cfg)

    # then only the 6 new trusted rows go to the harvested file, a new DVC version, and the source is untouched
    assert (result["added"], result["duplicates"], result["rows"]) == (6, 4, 6)
    assert result["labels"] == {"trusted": 10, "conflicts": 2, "untrusted": 4}
    harvested = pd.read_parquet(cfg.paths.harvested)
    assert len(harvested) == 6 and set(harvested["tenure_months"]) == set(fresh["tenure_months"])
    assert DATA.read_bytes() == source
    assert str(cfg.paths.harvested) + ".dvc" in sh("git", "status", "--porcelain", "--untracked-files=all")
    assert result["validation"].split("/")[0] == result["validation"].split("/")[1]  # every expectation met
    # and the account for the pull request names what was left out and the label shift
    account = Path("reports/monitoring/harvest.md").read_text()
    assert "left out: 2 with conflicting labels, 4 from an unverified source" in account
    assert "label shift" in account and "of the added rows (source data" in account
    # a second harvest adds nothing
    assert harvest.run(cfg)["added"] == 0
    # and the next pipeline run trains on the new rows, scores the same holdout, and registers a new version
    run_pipeline(config.load("params.yaml"))
    pd.testing.assert_frame_equal(pd.read_parquet(PATHS.holdout), holdout)
    assert len(pd.read_parquet(PATHS.train)) == len(train) + 6
    assert Prepared.load(PATHS.prepared).harvested_rows == 6
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{cfg.tracking.model_name}'")
    assert len(versions) == 2


def select_request(connection, request_id: str) -> int:
    from sqlalchemy import select

    query = select(database.requests.c.id).where(database.requests.c.request_id == request_id)
    return int(connection.execute(query).scalar_one())


def test_a_harvested_row_like_a_holdout_row_never_trains(tmp_project: Path, cfg, monkeypatch) -> None:
    # given a trained project and trusted labels for two served rows whose features are holdout rows', labelled
    # otherwise than the holdout has them (new rows for the data, so harvest keeps them)
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_project / 'serving.db'}")
    run_pipeline(cfg)
    holdout, train = pd.read_parquet(PATHS.holdout), pd.read_parquet(PATHS.train)
    target = cfg.ingest.target
    names = [c for c in holdout.columns if c != target]
    values = sorted(holdout[target].unique())
    copies = holdout.head(2).assign(**{target: [next(v for v in values if v != t) for t in holdout[target].head(2)]})
    served(database.connect(cfg.serving.resolved_db_url), cfg, copies, names, "copies")
    # when they are harvested and prepare runs again
    assert harvest.run(cfg, dvc_add=False)["added"] == 2
    run_pipeline(cfg, until="prepare")
    # then the holdout is the same, and train did not take the holdout's rows
    pd.testing.assert_frame_equal(pd.read_parquet(PATHS.holdout), holdout)
    assert len(pd.read_parquet(PATHS.train)) == len(train)


def test_harvest_refuses_data_that_fails_the_suite(tmp_project: Path, cfg, monkeypatch) -> None:
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_project / 'serving.db'}")
    run_pipeline(cfg, until="validate")
    before = DATA.read_text()
    frame = pd.read_csv(DATA)
    names = [c for c in frame.columns if c not in (cfg.ingest.target, *cfg.ingest.drop_columns)]
    bad = frame.head(2).assign(tenure_months=10_000)
    served(database.connect(cfg.serving.resolved_db_url), cfg, bad, names, "bad")
    with pytest.raises(config.UserError, match="tenure_months"):
        harvest.run(cfg, dvc_add=False)
    assert DATA.read_text() == before and not cfg.paths.harvested.exists()
