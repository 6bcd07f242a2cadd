"""The serving-layer database on SQLite: the batch fast path stores what the general path stores, exactly."""

from __future__ import annotations

import fcntl
import json
import math
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.predictions import database, queries, store, writer
from {{ cookiecutter.package_name }}.predictions.probabilities import ClassProbabilities


@pytest.fixture
def engine(tmp_path):
    engine = database.connect(f"sqlite:///{tmp_path / 'serving.db'}")
    yield engine
    engine.dispose()


def batch(engine, batch_id: str, rows: int = 4, **overrides: Any) -> database.Request:
    answers: dict[str, Any] = {
        "model_name": "m",
        "model_version": "3",
        "input": "in.parquet",
        "digest": "abc",
        "rows": rows,
    }
    return store.open_batch(engine, batch_id, **(answers | overrides))


def stored(engine, batch_id: str) -> list[tuple]:
    query = (
        select(database.scored.c.row_index, database.scored.c.row_key, database.scored.c.prediction)
        .where(database.scored.c.request_id == batch_id)
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


@pytest.mark.parametrize(
    "values",
    [
        [0, 1, 1, 0],
        [0.1 + 0.2, 1 / 3, -2.5e-300, 123456789.123456789],  # full double precision, not 15 digits
        ["malignant", "benign", 'say "hi"', "ünïcode"],
        [True, False, True, True],
    ],
    ids=["int", "float", "text", "bool"],
)
def test_the_fast_path_and_the_general_path_store_the_same_values(engine, values) -> None:
    # given the same predictions written positionally (one INSERT ... SELECT) and with keys (executemany)
    store.insert_scored(engine, batch(engine, "fast"), np.arange(4), values)
    store.insert_scored(engine, batch(engine, "keyed"), np.arange(4), values, keys=["0", "1", "2", "3"])
    store.insert_scored(engine, batch(engine, "slow", rows=5), np.array([0, 1, 2, 4]), values)  # a gap
    # then both read back as the very values that went in, with the same keys
    fast, keyed, slow = stored(engine, "fast"), stored(engine, "keyed"), stored(engine, "slow")
    assert fast == keyed == [(i, str(i), v) for i, v in enumerate(values)]
    assert slow == [*fast[:3], (4, "4", values[3])]
    assert [type(row[2]) for row in fast] == [type(v) for v in values]


def probabilities_of(engine, batch_id: str) -> list[tuple]:
    query = (
        select(database.scored.c.prediction, database.scored.c.probabilities)
        .where(database.scored.c.request_id == batch_id)
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


@pytest.mark.parametrize(
    ("classes", "labels"),
    [(("No", "Yes"), ["Yes", "No", "No"]), ((0, 1, 2), [2, 0, 1]), ((False, True), [True, False, True])],
    ids=["text", "int", "bool"],
)
def test_class_probabilities_go_in_by_every_path_as_the_service_stores_them(engine, classes, labels) -> None:
    # given a chunk's labels and class probabilities at full double precision
    values = np.random.default_rng(0).dirichlet(np.ones(len(classes)), size=3)
    values[0, 0] = 0.1 + 0.2
    chunk = ClassProbabilities(classes, values)
    # when written positionally (SQLite's one INSERT ... SELECT), with keys and with a gap (row by row)
    store.insert_scored(engine, batch(engine, "fast", rows=3), np.arange(3), labels, probabilities=chunk)
    store.insert_scored(
        engine, batch(engine, "keyed", rows=3), np.arange(3), labels, ["a", "b", "c"], probabilities=chunk
    )
    store.insert_scored(engine, batch(engine, "gap", rows=4), np.array([0, 1, 3]), labels, probabilities=chunk)
    # then each row reads back its label and {class: probability}, the class as text, every digit kept: what the
    # service writes for an answer (database.json_text of the same dict)
    expected = [
        (label, dict(zip([str(c) for c in classes], row, strict=True)))
        for label, row in zip(labels, values.tolist(), strict=True)
    ]
    assert (
        probabilities_of(engine, "fast")
        == probabilities_of(engine, "keyed")
        == probabilities_of(engine, "gap")
        == expected
    )
    assert [type(label) for label, _ in probabilities_of(engine, "fast")] == [type(label) for label in labels]
    assert [json.loads(database.json_text(document)) for _, document in expected] == [d for _, d in expected]


def test_values_json_cannot_hold_take_the_general_path(engine) -> None:
    store.insert_scored(engine, batch(engine, "nan", rows=3), np.arange(3), [1.5, math.nan, 2.5])
    values = [row[2] for row in stored(engine, "nan")]
    assert values[0] == 1.5 and values[2] == 2.5 and math.isnan(values[1])  # SQLite's JSON would refuse NaN


def test_a_resumed_chunk_after_a_gap_keeps_its_positions(engine) -> None:
    request = batch(engine, "gaps", rows=6)
    store.insert_scored(engine, request, np.array([0, 1]), ["a", "b"])
    store.insert_scored(engine, request, np.array([3, 5]), ["d", "f"])  # not contiguous: the general path
    store.insert_scored(engine, request, np.array([2]), ["c"])
    store.insert_scored(engine, request, np.array([4]), ["e"])
    assert stored(engine, "gaps") == [(i, str(i), v) for i, v in enumerate("abcdef")]
    assert store.written_positions(engine, request).tolist() == [0, 1, 2, 3, 4, 5]


def test_a_row_written_twice_is_refused_and_the_chunk_rolled_back(engine) -> None:
    request = batch(engine, "twice")
    store.insert_scored(engine, request, np.arange(2), [1, 0])
    with pytest.raises(store.DuplicateRows, match="twice"):
        store.insert_scored(engine, request, np.arange(1, 3), [0, 1])
    assert queries.count(engine, database.BATCH, "twice") == 2


def test_a_batch_id_cannot_be_resumed_on_another_file_or_with_another_model(engine) -> None:
    first = batch(engine, "nightly")
    assert batch(engine, "nightly") == first
    with pytest.raises(store.BatchConflict, match="another input"):
        batch(engine, "nightly", digest="other", input="other.parquet")
    with pytest.raises(store.BatchConflict, match="v4"):
        batch(engine, "nightly", model_version="4")


def test_online_rows_share_one_request_row_and_the_view_joins_them(engine) -> None:
    head = {"source": database.ONLINE, "request_id": "r1", "created_at": database.now(), "model_name": "m"}
    rows = [
        head | {"model_version": "3", "row_index": i, "inputs": {"x": i}, "prediction": i, "probabilities": None}
        for i in range(3)
    ]
    store.insert(engine, rows)
    assert queries.count(engine, database.ONLINE, "r1") == 3
    assert queries.summary(engine) == [
        {"source": "online", "model_name": "m", "model_version": "3", "rows": 3, "requests": 1}
    ]
    with engine.connect() as connection:
        heads = connection.execute(select(database.requests)).all()
        view = connection.exec_driver_sql("SELECT request_id, row_key, inputs FROM scored ORDER BY row_index").all()
    assert len(heads) == 1 and heads[0].row_count == 3
    assert [(r[0], r[1], json.loads(r[2])) for r in view] == [("r1", str(i), {"x": i}) for i in range(3)]


def test_workers_starting_at_once_on_a_new_database_all_get_the_schema(tmp_path) -> None:
    # given eight processes' worth of connects (the service's workers, replicas) released at the same instant, on
    # new databases (without the retry, 18 of 20 such starts failed with "table requests already exists")
    for trial in range(5):
        url = f"sqlite:///{tmp_path / f'new-{trial}.db'}"
        start = threading.Barrier(8)
        failed: list[str] = []

        def connect(url: str = url, start: threading.Barrier = start, failed: list[str] = failed) -> None:
            start.wait()
            try:
                database.connect(url)
            except Exception as error:  # what a worker would die of
                failed.append(repr(error))

        threads = [threading.Thread(target=connect) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # then none of them fails, and the schema is there once
        assert failed == []
        with database.connect(url).connect() as connection:
            assert connection.execute(select(database.scored)).all() == []


def test_a_database_with_an_older_predictions_table_is_named_not_written(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id TEXT, prediction TEXT)")
    with pytest.raises(UserError, match="row_index") as refused:
        database.connect(f"sqlite:///{path}")
    assert "old.db" in str(refused.value) and "SERVING_DB_URL" in str(refused.value)
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"predictions"}


def online_rows(request_id: str, count: int = 2) -> list[dict]:
    created = database.now()
    return [
        {"source": database.ONLINE, "request_id": request_id, "row_index": i, "created_at": created}
        | {"model_name": "m", "model_version": "3", "prediction": "yes"}
        for i in range(count)
    ]


def test_the_writer_resolves_a_future_only_once_its_rows_are_committed_and_groups_what_queued(engine) -> None:
    # given a writer whose first commit is held until released, and requests submitted meanwhile
    import threading

    started, release, groups = threading.Event(), threading.Event(), []

    def write(items):
        started.set()
        release.wait(30)
        groups.append(len(items))
        store.insert(engine, [row for rows in items for row in rows])

    rows = writer.Writer(write, name="test-writer")
    first = rows.submit(online_rows("r0"))
    assert started.wait(30)
    later = [rows.submit(online_rows(f"r{i}")) for i in range(1, 6)]
    # then nothing is acknowledged while the commit is pending
    assert not first.done() and not any(f.done() for f in later)
    assert queries.count(engine) == 0
    # when the commit goes through
    release.set()
    first.result(30)
    for future in later:
        future.result(30)
    rows.close()
    # then each future resolved after its rows were stored, and the requests queued meanwhile shared one commit
    assert queries.count(engine, database.ONLINE) == 12
    assert groups == [1, 5]


def test_a_failed_write_fails_its_futures_and_a_stopping_writer_refuses_more(engine) -> None:
    def write(items):
        raise RuntimeError("the database is gone")

    rows = writer.Writer(write, name="test-writer", stop_on_error=True)
    with pytest.raises(RuntimeError, match="gone"):
        rows.submit(online_rows("r0")).result(30)
    with pytest.raises(RuntimeError, match="gone"):
        rows.submit(online_rows("r1"))
    rows.close()
    assert queries.count(engine) == 0


def test_writers_of_one_sqlite_file_take_turns_through_the_kernel(engine, tmp_path) -> None:
    """The service's workers queue on an flock beside the database, not in SQLite's sleeping busy handler."""
    # given another process inside the write lock of the same database file
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys\nfrom {{ cookiecutter.package_name }}.predictions import database\n"
                "with database.WriteLock(database.connect(sys.argv[1])):\n"
                "    print('in', flush=True)\n"
                "    sys.stdin.readline()\n"
            ),
            str(engine.url),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "in"
        # then the lock file is taken for every other open of it
        with (tmp_path / "serving.db.write-lock").open("a") as probe:
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # and once the holder leaves, it is free again
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.wait(timeout=60) == 0
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.kill()
    # and this process takes its turn the same way
    with database.WriteLock(engine):
        store.insert(engine, online_rows("after"))
    assert queries.count(engine, database.ONLINE, "after") == 2
