"""Harvest: labelled served rows become a new DVC version of the external data, and the pipeline trains on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.monitoring import harvest
from {{ cookiecutter.package_name }}.predictions import database, store

from ..helpers import run_pipeline

pytestmark = pytest.mark.slow  # DVC, GX and two pipeline runs

DATA = Path("data/external/customers.csv")


def sh(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout


def served(engine, cfg: config.Config, rows: pd.DataFrame, names: list[str]) -> None:
    """Rows as the service writes them (features kept), each with a feedback label: the true target."""
    created = database.now()
    store.insert(
        engine,
        [
            {
                "source": database.ONLINE,
                "request_id": "harvest-test",
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
    labels = [(("harvest-test", str(i)), label) for i, label in enumerate(rows[cfg.ingest.target])]
    store.record_feedback(engine, [(key, label.item() if hasattr(label, "item") else label) for key, label in labels])


def test_harvest_adds_a_validated_deduplicated_dvc_version_that_trains(tmp_project: Path, cfg, monkeypatch) -> None:
    # given a git + DVC project whose external data is tracked, and a champion trained on it
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_project / 'serving.db'}")
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    sh("git", "init", "-q")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    sh(sys.executable, "-m", "dvc", "add", "-q", str(DATA))
    sh(*git, "add", "-A")
    sh(*git, "commit", "-qm", "data")
    run_pipeline(cfg)
    before = pd.read_csv(DATA)
    names = [c for c in before.columns if c not in (cfg.ingest.target, *cfg.ingest.drop_columns)]
    # and served rows with labels: 6 new ones (one of them twice) and 3 that are already in the data
    fresh = before.sample(6, random_state=1).assign(tenure_months=lambda f: f["tenure_months"] + 1)
    known = before.sample(3, random_state=2)
    served(database.connect(cfg.serving.resolved_db_url), cfg, pd.concat([fresh, fresh.head(1), known]), names)

    # when harvested
    result = harvest.run(cfg)

    # then the 6 new rows are appended, the repeats skipped, and the file is a new DVC version in git
    assert (result["added"], result["duplicates"], result["rows"]) == (6, 4, len(before) + 6)
    after = pd.read_csv(DATA)
    assert len(after) == len(before) + 6 and after.iloc[: len(before)].equals(before)
    assert str(DATA) + ".dvc" in sh("git", "status", "--porcelain")
    assert result["validation"].split("/")[0] == result["validation"].split("/")[1]  # every expectation met
    # a second harvest adds nothing
    assert harvest.run(cfg)["added"] == 0
    # and the next pipeline run trains on the new data and registers a new version
    run_pipeline(config.load("params.yaml"))
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name = '{cfg.tracking.model_name}'")
    assert len(versions) == 2
    assert pd.read_parquet("data/raw/dataset.parquet").shape[0] == len(before) + 6


def test_harvest_refuses_data_that_fails_the_suite(tmp_project: Path, cfg, monkeypatch) -> None:
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_project / 'serving.db'}")
    run_pipeline(cfg, until="validate")
    before = DATA.read_text()
    frame = pd.read_csv(DATA)
    names = [c for c in frame.columns if c not in (cfg.ingest.target, *cfg.ingest.drop_columns)]
    bad = frame.head(2).assign(tenure_months=10_000)
    served(database.connect(cfg.serving.resolved_db_url), cfg, bad, names)
    with pytest.raises(config.UserError, match="tenure_months"):
        harvest.run(cfg, dvc_add=False)
    assert DATA.read_text() == before
