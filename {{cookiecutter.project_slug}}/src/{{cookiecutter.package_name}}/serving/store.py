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
            cursor = connection.connection.driver_connection.cursor()
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
        connection.execute(
            predictions.insert(),
            [
                {"request": request.id, "row_index": position, "row_key": key, "prediction": value}
                for position, key, value in zip(positions, keys or [None] * len(positions), values, strict=True)
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
