"""The serving layer on a real PostgreSQL server, started for this session in a temporary folder.

Skipped only when the PostgreSQL server binaries (initdb, pg_ctl; Debian: apt-get install postgresql) are absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.predictions import database, queries, store, writer
from {{ cookiecutter.package_name }}.predictions.probabilities import ClassProbabilities
from {{ cookiecutter.package_name }}.serving import batch

pytestmark = pytest.mark.slow  # starts a real PostgreSQL server for the module


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = database.connect(postgres_url)
    yield engine
    with engine.begin() as connection:
        connection.execute(database.predictions.delete())
        connection.execute(database.requests.delete())
    engine.dispose()


def keys_in(engine, batch_id: str) -> set[str]:
    query = sqlalchemy.select(database.scored.c.row_key).where(database.scored.c.request_id == batch_id)
    with engine.connect() as connection:
        return set(connection.execute(query).scalars())


def test_bulk_rows_go_in_by_copy_and_duplicates_are_refused(engine) -> None:
    batch = store.open_batch(engine, "b1", model_name="m", model_version="3", input="in.csv", digest="d", rows=5000)
    keys = [f"id-{i}" for i in range(5000)]
    store.insert_scored(engine, batch, np.arange(5000), ["yes", "no"] * 2500, keys)
    assert queries.count(engine, database.BATCH, "b1") == 5000
    assert (keys_in(engine, "b1")) == set(keys)
    with engine.connect() as connection:
        row = connection.execute(sqlalchemy.select(database.scored).where(database.scored.c.row_index == 7)).one()
    assert (row.row_key, row.prediction, row.model_version) == ("id-7", "no", "3")
    with pytest.raises(store.DuplicateRows, match="b1"):
        store.insert_scored(engine, batch, np.array([7]), ["yes"])
    assert queries.count(engine, database.BATCH, "b1") == 5000


@pytest.mark.parametrize(
    "values",
    [[0.1 + 0.2, 1 / 3, -2.5e-300], ['back\\slash "quoted"', "tab\there", "new\nline"], [True, False, True]],
    ids=["float", "text", "bool"],
)
def test_positional_rows_keep_their_exact_values(engine, values) -> None:
    # given predictions written by position (one COPY of a text buffer)
    batch = store.open_batch(engine, "exact", model_name="m", model_version="3", input="in", digest="d", rows=3)
    store.insert_scored(engine, batch, np.arange(3), values)
    # then they read back exactly, the position standing in for the row key
    query = sqlalchemy.select(database.scored.c.row_key, database.scored.c.prediction).order_by(
        database.scored.c.row_index
    )
    with engine.connect() as connection:
        assert [tuple(row) for row in connection.execute(query)] == [(str(i), v) for i, v in enumerate(values)]


def test_class_probabilities_go_in_by_copy_with_every_digit(engine) -> None:
    # given a batch chunk of labels and class probabilities, positional and keyed (both by COPY)
    values = np.array([[0.1 + 0.2, 1 - (0.1 + 0.2)], [1 / 3, 2 / 3]])
    chunk = ClassProbabilities(("No", "Yes"), values)
    for batch_id, keys in (("plain", None), ("keyed", ["k0", "k1"])):
        request = store.open_batch(engine, batch_id, model_name="m", model_version="3", input="i", digest="d", rows=2)
        store.insert_scored(engine, request, np.arange(2), ["No", "Yes"], keys, probabilities=chunk)
    # then both read back as the service stores an answer's probabilities
    query = sqlalchemy.select(database.scored.c.request_id, database.scored.c.probabilities).order_by(
        database.scored.c.request_id, database.scored.c.row_index
    )
    with engine.connect() as connection:
        found = [tuple(row) for row in connection.execute(query)]
    expected = [{"No": a, "Yes": b} for a, b in values.tolist()]
    assert found == [("keyed", expected[0]), ("keyed", expected[1]), ("plain", expected[0]), ("plain", expected[1])]


def test_online_rows_keep_their_json_inputs_and_outputs(engine) -> None:
    rows: writer.Writer[list[dict[str, Any]]] = writer.Writer(
        lambda groups: store.insert(engine, [r for g in groups for r in g]), name="test-writer"
    )
    row = {
        "source": database.ONLINE,
        "request_id": "r1",
        "row_index": 0,
        "created_at": database.now(),
        "model_name": "m",
        "model_version": "3",
        "inputs": {"plan": "pro", "tenure_months": 12.0, "monthly_fee": None},
        "prediction": "yes",
        "probabilities": {"no": 0.25, "yes": 0.75},
    }
    rows.submit([row]).result()  # committed when the future resolves
    rows.close()
    with engine.connect() as connection:
        stored = dict(connection.execute(sqlalchemy.select(database.scored)).one()._mapping)
    assert stored["inputs"] == row["inputs"]
    assert (stored["prediction"], stored["probabilities"]) == ("yes", {"no": 0.25, "yes": 0.75})
    assert stored["created_at"].tzinfo is not None


def test_batch_scoring_into_postgres_resumes_after_a_crash(
    in_trained, postgres_url, engine, bentoml_home, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SERVING_DB_URL", postgres_url)
    cfg = config.load("params.yaml")
    frame = pd.read_parquet("data/processed/test.parquet")
    path = tmp_path / "holdout.parquet"
    pd.concat([frame] * 5, ignore_index=True).to_parquet(path)
    rows = len(frame) * 5
    real_insert, calls = store.insert_scored, []

    def crash_on_the_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(store, "insert_scored", crash_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        batch.run(cfg, path, batch_id="pg", chunk_rows=len(frame), progress=False)
    assert 0 < queries.count(engine, database.BATCH, "pg") < rows
    monkeypatch.setattr(store, "insert_scored", real_insert)
    batch.run(cfg, path, batch_id="pg", chunk_rows=len(frame), progress=False)
    assert queries.count(engine, database.BATCH, "pg") == rows
    assert (keys_in(engine, "pg")) == {str(i) for i in range(rows)}
