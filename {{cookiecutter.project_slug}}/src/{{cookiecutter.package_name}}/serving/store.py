"""The serving layer: the predictions of the hot path (service) and the cold path (batch), for analytics clients.

Any SQLAlchemy URL works (params.yaml serving.db_url, or SERVING_DB_URL); a SQLite file is the default,
PostgreSQL is tested. Two tables, and one view that joins them:

    requests        one row per HTTP request or batch job: source ("online" or "batch"), request_id (the
                    request's id or the batch id), created_at (UTC), model_name / model_version (the registered
                    MLflow model that answered), row_count, and for batches the input file and its digest
    predictions     one row per scored record: request (-> requests.id), row_index (position in the request or
                    input file), row_key (the batch's key column; empty when the position is the key), inputs
                    (online only: batch rows point back to their file), prediction, probabilities (by class)
    scored          the view an analyst reads: every prediction with its request's source, id, time and model
    feedback        ground truth that came back (POST /feedback, `feedback --input`): one label per prediction,
                    keyed like predictions (request, row_index), so a resend replaces, never double-counts

A prediction's id is ``<request id>:<row key>`` (``prediction_id``): the service returns it with each answer, and
a batch row's id is its batch id and row key (the key column's value, or the row's position in the file).
Online requests keep their features in `predictions.inputs` (all of them, or the share monitor.online_features
of params.yaml); a batch keeps its input file's path and digest in `requests` and the features of a sample of
its rows (monitor.batch_sample_rows) in `predictions.inputs`, which is what monitoring reads.

A batch's constant columns live once in `requests`, so a scored row is three small values: that is what lets
a batch job write about as fast as the model predicts. (request, row_index) is the primary key, which is what
makes batch reruns idempotent.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from ..config import UserError

log = logging.getLogger(__name__)
ONLINE = "online"
BATCH = "batch"
ID = BigInteger().with_variant(Integer, "sqlite")


class DuplicateRows(UserError):
    """A batch's rows were written twice (two runs of the same batch id at once); the primary key refused them."""


class BatchConflict(UserError):
    """A batch id reused for another input file or another model version: resuming it would mix two jobs."""


class UnknownPredictions(UserError):
    """Feedback names prediction ids that the serving layer does not have."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        shown = ", ".join(map(repr, self.ids[:20])) + (f" and {len(self.ids) - 20} more" if len(self.ids) > 20 else "")
        super().__init__(f"unknown prediction id(s): {shown}")


metadata = MetaData()
requests = Table(
    "requests",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("input", String(1024), nullable=True),
    Column("input_digest", String(64), nullable=True),
    Column("row_count", Integer, nullable=False),
    UniqueConstraint("source", "request_id", name="uq_requests_source_id"),
)
predictions = Table(
    "predictions",
    metadata,
    Column("request", ID, ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True),
    Column("row_index", Integer, primary_key=True, autoincrement=False),
    Column("row_key", String(256), nullable=True),  # empty: the row's position is its key
    Column("inputs", JSON, nullable=True),
    Column("prediction", JSON, nullable=False),
    Column("probabilities", JSON, nullable=True),
    sqlite_with_rowid=False,  # rows live in the primary-key b-tree: one write per row, not two
)
feedback = Table(
    "feedback",
    metadata,
    Column("request", ID, ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True),
    Column("row_index", Integer, primary_key=True, autoincrement=False),
    Column("label", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    sqlite_with_rowid=False,
)
scored = (
    select(
        requests.c.source,
        requests.c.request_id,
        predictions.c.row_index,
        func.coalesce(predictions.c.row_key, cast(predictions.c.row_index, String)).label("row_key"),
        requests.c.created_at,
        requests.c.model_name,
        requests.c.model_version,
        predictions.c.inputs,
        predictions.c.prediction,
        predictions.c.probabilities,
    )
    .select_from(predictions.join(requests, predictions.c.request == requests.c.id))
    .subquery("scored")
)


@dataclass(frozen=True)
class Request:
    """One row of `requests`: an HTTP request or a batch job."""

    id: int
    source: str
    request_id: str
    model_name: str
    model_version: str


def now() -> datetime:
    return datetime.now(UTC)


def connect(url: str) -> Engine:
    """An engine for ``url`` with the tables and the `scored` view created. SQLite gets WAL and a busy timeout,
    so the service and a batch job can write at the same time."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, pool_pre_ping=not sqlite, connect_args={"timeout": 30} if sqlite else {})
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    _refuse_another_schema(engine, url)
    metadata.create_all(engine)
    view = str(scored.element.compile(engine, compile_kwargs={"literal_binds": True}))
    create = "CREATE VIEW IF NOT EXISTS" if sqlite else "CREATE OR REPLACE VIEW"
    with engine.begin() as connection:
        connection.execute(text(f"{create} scored AS {view}"))
    return engine


def _refuse_another_schema(engine: Engine, url: str) -> None:
    """A `predictions` table of another layout (an older version of this project) is named, not written into."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    if not inspector.has_table(predictions.name):
        return
    found = {column["name"] for column in inspector.get_columns(predictions.name)}
    if missing := [column.name for column in predictions.columns if column.name not in found]:
        raise UserError(
            f"the serving-layer database {redacted(url)} has a `{predictions.name}` table without "
            f"{', '.join(missing)} (an older layout): move it aside or point SERVING_DB_URL at a new database"
        )


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


REQUEST_COLUMNS = ("source", "request_id", "created_at", "model_name", "model_version")


def insert(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """The hot path's rows in one transaction, all of them or none. Each row is flat: its request's columns
    (REQUEST_COLUMNS) and its own (row_index, row_key, inputs, prediction, probabilities); one `requests` row
    is written per request id."""
    if not rows:
        return
    heads: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        head = heads.setdefault(
            (row["source"], row["request_id"]), {c: row[c] for c in REQUEST_COLUMNS} | {"row_count": 0}
        )
        head["row_count"] += 1
    with engine.begin() as connection:
        ids = connection.execute(
            requests.insert().returning(requests.c.id, sort_by_parameter_order=True), list(heads.values())
        ).scalars()
        request_of = dict(zip(heads, ids, strict=True))
        connection.execute(
            predictions.insert(),
            [
                {
                    "request": request_of[row["source"], row["request_id"]],
                    "row_index": row["row_index"],
                    "row_key": row.get("row_key"),
                    "inputs": row.get("inputs"),
                    "prediction": row["prediction"],
                    "probabilities": row.get("probabilities"),
                }
                for row in rows
            ],
        )


def open_batch(
    engine: Engine,
    batch_id: str,
    *,
    model_name: str,
    model_version: str,
    input: str,
    digest: str,
    rows: int,
) -> Request:
    """The `requests` row of a batch job: created on the first run, found again on a rerun. A rerun must score
    the same file with the same model; anything else is refused, since it would mix two jobs under one id."""
    with engine.begin() as connection:
        found = connection.execute(
            select(requests).where(requests.c.source == BATCH, requests.c.request_id == batch_id)
        ).one_or_none()
        if found is None:
            values = {
                "source": BATCH,
                "request_id": batch_id,
                "created_at": now(),
                "model_name": model_name,
                "model_version": model_version,
                "input": input,
                "input_digest": digest,
                "row_count": rows,
            }
            key = connection.execute(requests.insert().values(values).returning(requests.c.id)).scalar_one()
            return Request(key, BATCH, batch_id, model_name, model_version)
    if found.input_digest != digest:
        raise BatchConflict(
            f"batch {batch_id!r} was started on another input ({found.input}, digest {found.input_digest}); "
            "pass another --batch-id to score this file"
        )
    if (found.model_name, found.model_version) != (model_name, model_version):
        raise BatchConflict(
            f"batch {batch_id!r} was started with {found.model_name} v{found.model_version} and the champion is now "
            f"{model_name} v{model_version}; pass another --batch-id to score the file again with the new champion"
        )
    return Request(found.id, BATCH, batch_id, found.model_name, found.model_version)


def written_positions(engine: Engine, request: Request) -> np.ndarray:
    """Row indexes already written for a request (sorted)."""
    with engine.connect() as connection:
        query = select(predictions.c.row_index).where(predictions.c.request == request.id).order_by("row_index")
        return np.fromiter(connection.execute(query).scalars(), dtype=np.int64)


def insert_scored(
    engine: Engine,
    request: Request,
    positions: np.ndarray,
    values: Sequence[Any],
    keys: Sequence[str] | None = None,
) -> None:
    """The cold path's rows (one per scored input row) in one transaction, by the fastest route the database
    has: COPY on PostgreSQL; on SQLite one INSERT ... SELECT over a JSON array (the whole chunk is written in
    C, with the GIL released, so the next chunk is scored meanwhile); SQLAlchemy's executemany elsewhere.
    Without ``keys`` the positions are the keys (row_key stays empty)."""
    try:
        _insert_scored(engine, request, positions, values, keys)
    except Exception as error:
        cause = getattr(error, "orig", error)
        if isinstance(error, IntegrityError) or getattr(cause, "sqlstate", None) == "23505":
            raise DuplicateRows(
                f"rows of batch {request.request_id!r} were written by another run in the meantime; run again to resume"
            ) from error
        raise


# A JSON array element as the JSON column stores it, and SQLAlchemy's JSON type reads it back: numbers as they
# are (json_quote would round a REAL to 15 digits), text quoted, booleans as JSON literals.
_NUMBER = "j.value"
_ANY = "CASE j.type WHEN 'text' THEN json_quote(j.value) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE j.value END"


def _numbers(values: Sequence[Any]) -> bool | None:
    """True when a chunk holds only ints and finite floats (written in bulk as they are), False for other JSON
    values (encoded), None when a float is NaN or infinite: JSON cannot hold it, so the chunk goes row by row."""
    kinds = set(map(type, values))
    if kinds <= {int, float}:
        return True if float not in kinds or all(map(math.isfinite, values)) else None
    return False if float not in kinds or all(math.isfinite(v) for v in values if type(v) is float) else None


def _insert_scored(
    engine: Engine, request: Request, positions: np.ndarray, values: Sequence[Any], keys: Sequence[str] | None
) -> None:
    if not len(positions):
        return
    first = int(positions[0])
    contiguous = int(positions[-1]) - first + 1 == len(positions)
    numbers = _numbers(values)
    dialect = engine.dialect.name
    with engine.begin() as connection:
        if dialect == "sqlite" and keys is None and contiguous and numbers is not None:
            connection.exec_driver_sql(
                f"INSERT INTO {predictions.name} (request, row_index, prediction) "
                f"SELECT ?, ? + j.key, {_NUMBER if numbers else _ANY} FROM json_each(?) AS j",
                (request.id, first, json.dumps(values)),
            )
            return
        positions = positions.tolist()
        if dialect == "postgresql" and engine.dialect.driver == "psycopg":
            driver = connection.connection.driver_connection  # the psycopg connection (None only once closed)
            if driver is None:
                raise RuntimeError("the serving layer's database connection is closed")
            cursor = driver.cursor()
            if keys is None:  # COPY's text format built in one string: a write per chunk instead of one per row
                encoded = map(repr, values) if numbers else (json.dumps(v).replace("\\", "\\\\") for v in values)
                data = "".join(f"{request.id}\t{p}\t{v}\n" for p, v in zip(positions, encoded, strict=True))
                with cursor.copy(f"COPY {predictions.name} (request, row_index, prediction) FROM STDIN") as copy:
                    copy.write(data)
                return
            with cursor.copy(f"COPY {predictions.name} (request, row_index, row_key, prediction) FROM STDIN") as copy:
                for position, key, value in zip(positions, keys, values, strict=True):
                    copy.write_row((request.id, position, key, json.dumps(value)))
            return
        row_keys: Sequence[str | None] = keys or [None] * len(positions)
        connection.execute(
            predictions.insert(),
            [
                {"request": request.id, "row_index": position, "row_key": key, "prediction": value}
                for position, key, value in zip(positions, row_keys, values, strict=True)
            ],
        )


def existing_keys(engine: Engine, source: str, request_id: str) -> set[str]:
    """Row keys already written for one request or batch."""
    with engine.connect() as connection:
        query = select(scored.c.row_key).where(scored.c.source == source, scored.c.request_id == request_id)
        return set(connection.execute(query).scalars())


def count(engine: Engine, source: str | None = None, request_id: str | None = None) -> int:
    """Prediction rows, of one source and one request or batch when given."""
    query = select(func.count()).select_from(predictions)
    if source is not None or request_id is not None:
        query = query.join(requests, predictions.c.request == requests.c.id)
    if source is not None:
        query = query.where(requests.c.source == source)
    if request_id is not None:
        query = query.where(requests.c.request_id == request_id)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def summary(engine: Engine) -> list[dict[str, Any]]:
    """Row counts by source and model version: what `make serve-demo` prints."""
    query = (
        select(
            scored.c.source,
            scored.c.model_name,
            scored.c.model_version,
            func.count().label("rows"),
            func.count(scored.c.request_id.distinct()).label("requests"),
        )
        .group_by(scored.c.source, scored.c.model_name, scored.c.model_version)
        .order_by(scored.c.source, scored.c.model_version)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


class PredictionWriter:
    """Buffered, asynchronous writes for the hot path.

    ``put()`` only queues rows, so a request never waits on the database. A background thread inserts what has
    queued every ``interval`` seconds (or as soon as ``max_rows`` are waiting), retrying while the database is
    unreachable. ``close()`` writes everything still queued: nothing is lost on a clean shutdown.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.2, max_rows: int = 2000) -> None:
        self.engine = engine
        self.interval = interval
        self.max_rows = max_rows
        self.written = 0
        self._queue: queue.SimpleQueue[list[dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="prediction-writer", daemon=True)
        self._thread.start()

    def put(self, rows: Iterable[dict[str, Any]]) -> None:
        self._queue.put(list(rows))

    def close(self, timeout: float = 30) -> None:
        """Flush what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("prediction writer did not finish within %ss; some rows may be missing", timeout)

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        stopping = False
        while not stopping or pending:
            deadline = time.monotonic() + self.interval
            while not stopping and len(pending) < self.max_rows:
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    pending.extend(item)
            if stopping:  # drain whatever arrived before close()
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        pending.extend(item)
            if not pending:
                continue
            try:
                insert(self.engine, pending)
            except Exception:  # the database is down or locked: keep the rows and try again
                log.exception("writing %d prediction(s) to the serving layer failed; retrying", len(pending))
                time.sleep(min(self.interval * 5, 2.0))
                continue
            self.written += len(pending)
            pending = []


# Ground truth: prediction ids, feedback labels, and what monitoring reads back.
ID_SEPARATOR = ":"
LOOKUP_CHUNK = 5000  # keys per query (SQLite allows 32766 parameters)


def prediction_id(request_id: str, row_key: str | int) -> str:
    """The stable id of one prediction: its request's (or batch's) id and its row key."""
    return f"{request_id}{ID_SEPARATOR}{row_key}"


def split_id(value: str) -> tuple[str, str] | None:
    """(request or batch id, row key) of a prediction id, split at the first ':'; None when it is not one."""
    request_id, separator, key = str(value).partition(ID_SEPARATOR)
    return (request_id, key) if separator and request_id and key else None


def resolve(engine: Engine, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(request or batch id, row key) -> the prediction's primary key (request, row_index), for those that exist."""
    wanted: dict[str, set[str]] = {}
    for request_id, key in keys:
        wanted.setdefault(request_id, set()).add(key)
    found: dict[tuple[str, str], tuple[int, int]] = {}
    with engine.connect() as connection:
        heads: list[Any] = []
        names = list(wanted)
        for begin in range(0, len(names), LOOKUP_CHUNK):
            query = select(requests.c.id, requests.c.request_id).where(
                requests.c.request_id.in_(names[begin : begin + LOOKUP_CHUNK])
            )
            heads.extend(connection.execute(query))
        for pk, request_id in heads:
            row_keys = sorted(wanted[request_id])
            for begin in range(0, len(row_keys), LOOKUP_CHUNK):
                chunk = row_keys[begin : begin + LOOKUP_CHUNK]
                positions = [int(k) for k in chunk if k.isdigit()]
                query = select(predictions.c.row_index, predictions.c.row_key).where(
                    predictions.c.request == pk,
                    predictions.c.row_key.in_(chunk)
                    | (predictions.c.row_key.is_(None) & predictions.c.row_index.in_(positions)),
                )
                for row_index, row_key in connection.execute(query):
                    found[request_id, row_key if row_key is not None else str(row_index)] = (pk, row_index)
    return found


def record_feedback(engine: Engine, labels: Sequence[tuple[tuple[str, str], Any]]) -> dict[str, int]:
    """Store one label per prediction ((request or batch id, row key), label), all or none: an unknown
    prediction refuses the whole call (UnknownPredictions names them). Idempotent per prediction: a resend
    replaces the label, it is never counted twice. Returns how many were new and how many replaced a label."""
    latest = dict(labels)  # the same id twice in one call: the last label wins
    found = resolve(engine, list(latest))
    missing = [prediction_id(*key) for key in latest if key not in found]
    if missing:
        raise UnknownPredictions(missing)
    rows = [
        {"request": found[key][0], "row_index": found[key][1], "label": label, "received_at": now()}
        for key, label in latest.items()
    ]
    with engine.begin() as connection:
        before: set[Any] = set()
        by_request: dict[int, list[int]] = {}
        for row in rows:
            by_request.setdefault(row["request"], []).append(row["row_index"])
        for request, positions in by_request.items():
            for begin in range(0, len(positions), LOOKUP_CHUNK):
                query = select(feedback.c.request, feedback.c.row_index).where(
                    feedback.c.request == request, feedback.c.row_index.in_(positions[begin : begin + LOOKUP_CHUNK])
                )
                before.update(map(tuple, connection.execute(query)))
        if before:
            for request, positions in by_request.items():
                old = [p for p in positions if (request, p) in before]
                for begin in range(0, len(old), LOOKUP_CHUNK):
                    connection.execute(
                        feedback.delete().where(
                            feedback.c.request == request, feedback.c.row_index.in_(old[begin : begin + LOOKUP_CHUNK])
                        )
                    )
        connection.execute(feedback.insert(), rows)
    return {"received": len(labels), "new": len(rows) - len(before), "replaced": len(before)}


def keep_inputs(engine: Engine, request: Request, inputs: dict[int, dict[str, Any]]) -> None:
    """Attach the features of some already written rows of a request (a batch's sample), by row index."""
    if not inputs:
        return
    from sqlalchemy import bindparam

    statement = (
        predictions.update()
        .where(predictions.c.request == bindparam("r"), predictions.c.row_index == bindparam("i"))
        .values(inputs=bindparam("v"))
    )
    with engine.begin() as connection:
        connection.execute(statement, [{"r": request.id, "i": i, "v": v} for i, v in inputs.items()])


def window_requests(engine: Engine, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The requests and batches of a time window (source, id, time, model, rows, input): the volume overview."""
    query = select(
        requests.c.source,
        requests.c.request_id,
        requests.c.created_at,
        requests.c.model_name,
        requests.c.model_version,
        requests.c.row_count,
        requests.c.input,
    ).where(requests.c.created_at >= since, requests.c.created_at < until)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def _window(query: Any, since: datetime, until: datetime) -> Any:
    return query.select_from(predictions.join(requests, predictions.c.request == requests.c.id)).where(
        requests.c.created_at >= since, requests.c.created_at < until
    )


def window_predictions(engine: Engine, since: datetime, until: datetime) -> list[tuple[str, str, Any]]:
    """(source, model version, prediction) of every prediction in the window."""
    query = _window(select(requests.c.source, requests.c.model_version, predictions.c.prediction), since, until)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def window_inputs(engine: Engine, since: datetime, until: datetime, limit: int) -> list[dict[str, Any]]:
    """The kept features of the window's predictions; about ``limit`` of them, drawn at random, when there are
    more. Each row is kept with probability limit/total in one pass, so the database neither sorts nor reads the
    features of the rows it skips."""
    query = _window(select(predictions.c.inputs), since, until).where(predictions.c.inputs.is_not(None))
    with engine.connect() as connection:
        total = connection.execute(
            _window(select(func.count()), since, until).where(predictions.c.inputs.is_not(None))
        ).scalar_one()
        if total > limit:
            share = limit / total
            if engine.dialect.name == "sqlite":  # random() is a 64-bit integer there
                query = query.where(func.abs(func.random()) % 1_000_000 < int(share * 1_000_000))
            else:
                query = query.where(func.random() < share)
        return [row[0] for row in connection.execute(query)]


def labelled(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Predictions that have a feedback label: ids, source, model version, features (when kept), prediction,
    probabilities and the label."""
    query = select(
        requests.c.source,
        requests.c.request_id,
        predictions.c.row_index,
        func.coalesce(predictions.c.row_key, cast(predictions.c.row_index, String)).label("row_key"),
        requests.c.created_at,
        requests.c.model_version,
        predictions.c.inputs,
        predictions.c.prediction,
        predictions.c.probabilities,
        feedback.c.label,
    ).select_from(
        feedback.join(
            predictions,
            (feedback.c.request == predictions.c.request) & (feedback.c.row_index == predictions.c.row_index),
        ).join(requests, predictions.c.request == requests.c.id)
    )
    if since is not None:
        query = query.where(requests.c.created_at >= since)
    if until is not None:
        query = query.where(requests.c.created_at < until)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def prune(engine: Engine, before: datetime) -> int:
    """Delete the requests (and their predictions and feedback) created before ``before``: the retention."""
    old = select(requests.c.id).where(requests.c.created_at < before).scalar_subquery()
    with engine.begin() as connection:
        connection.execute(feedback.delete().where(feedback.c.request.in_(old)))
        deleted = connection.execute(predictions.delete().where(predictions.c.request.in_(old))).rowcount
        connection.execute(requests.delete().where(requests.c.created_at < before))
    return int(deleted or 0)
