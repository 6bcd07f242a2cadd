"""The serving layer: one `predictions` table that the hot path (service) and the cold path (batch) write.

Analytics clients read it later. Any SQLAlchemy URL works (params.yaml serving.db_url, or SERVING_DB_URL);
a SQLite file is the default, PostgreSQL is tested. One row per scored record:

    source         "online" (POST /predict) or "batch" (python -m ... batch)
    request_id     the HTTP request, or the batch id
    row_key        position of the record in its request, or the input row's key
    created_at     when it was scored (UTC)
    model_name / model_version   the registered MLflow model that answered
    inputs         the record as received (online only; batch rows point back to their input file by row_key)
    prediction / probabilities   the model's answer (probabilities by class, classification only)

(source, request_id, row_key) is unique, which is what makes batch reruns idempotent.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from ..config import UserError

log = logging.getLogger(__name__)
ONLINE = "online"
BATCH = "batch"


class DuplicateRows(UserError):
    """A batch's rows were written twice (two runs of the same batch id at once); the unique key refused them."""


metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("row_key", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("inputs", JSON, nullable=True),
    Column("prediction", JSON, nullable=False),
    Column("probabilities", JSON, nullable=True),
    UniqueConstraint("source", "request_id", "row_key", name="uq_predictions_row"),
)


def now() -> datetime:
    return datetime.now(UTC)


def connect(url: str) -> Engine:
    """An engine for ``url`` with the table created. SQLite gets WAL and a busy timeout, so the service and a
    batch job can write at the same time."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, pool_pre_ping=not sqlite, connect_args={"timeout": 30} if sqlite else {})
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    metadata.create_all(engine)
    return engine


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def insert(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in one transaction: all of them or none."""
    if rows:
        with engine.begin() as connection:
            connection.execute(predictions.insert(), list(rows))


BATCH_COLUMNS = ("source", "request_id", "row_key", "created_at", "model_name", "model_version", "prediction")


def insert_scored(
    engine: Engine,
    batch_id: str,
    keys: Sequence[str],
    values: Sequence[Any],
    *,
    model_name: str,
    model_version: str,
    created_at: datetime,
) -> None:
    """The cold path's rows (one per scored input row) in one transaction, by the fastest route the database
    has: COPY on PostgreSQL, the driver's executemany on SQLite, SQLAlchemy's executemany elsewhere."""
    encoded = list(map(str, values)) if values and type(values[0]) is int else [json.dumps(v) for v in values]
    try:
        _insert_scored(engine, batch_id, keys, values, encoded, model_name, model_version, created_at)
    except Exception as error:
        cause = getattr(error, "orig", error)
        if isinstance(error, IntegrityError) or getattr(cause, "sqlstate", None) == "23505":
            raise DuplicateRows(
                f"rows of batch {batch_id!r} were written by another run in the meantime; run again to resume"
            ) from error
        raise


def _insert_scored(
    engine: Engine,
    batch_id: str,
    keys: Sequence[str],
    values: Sequence[Any],
    encoded: list[str],
    model_name: str,
    model_version: str,
    created_at: datetime,
) -> None:
    dialect = engine.dialect.name
    with engine.begin() as connection:
        if dialect == "postgresql" and engine.dialect.driver == "psycopg":
            cursor = connection.connection.driver_connection.cursor()
            with cursor.copy(f"COPY {predictions.name} ({', '.join(BATCH_COLUMNS)}) FROM STDIN") as copy:
                for key, value in zip(keys, encoded, strict=True):
                    copy.write_row((BATCH, batch_id, key, created_at, model_name, model_version, value))
        elif dialect == "sqlite":
            stamp = created_at.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DateTime in SQLite
            connection.exec_driver_sql(
                f"INSERT INTO {predictions.name} ({', '.join(BATCH_COLUMNS)}) VALUES ({', '.join('?' * len(BATCH_COLUMNS))})",
                [
                    (BATCH, batch_id, key, stamp, model_name, model_version, value)
                    for key, value in zip(keys, encoded, strict=True)
                ],
            )
        else:
            connection.execute(
                predictions.insert(),
                [
                    {
                        "source": BATCH,
                        "request_id": batch_id,
                        "row_key": key,
                        "created_at": created_at,
                        "model_name": model_name,
                        "model_version": model_version,
                        "prediction": value,
                    }
                    for key, value in zip(keys, values, strict=True)
                ],
            )


def existing_keys(engine: Engine, source: str, request_id: str) -> set[str]:
    """Row keys already written for one request or batch."""
    with engine.connect() as connection:
        query = select(predictions.c.row_key).where(
            predictions.c.source == source, predictions.c.request_id == request_id
        )
        return set(connection.execute(query).scalars())


def count(engine: Engine, source: str | None = None, request_id: str | None = None) -> int:
    query = select(func.count()).select_from(predictions)
    if source is not None:
        query = query.where(predictions.c.source == source)
    if request_id is not None:
        query = query.where(predictions.c.request_id == request_id)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def summary(engine: Engine) -> list[dict[str, Any]]:
    """Row counts by source and model version: what `make serve-demo` prints."""
    query = (
        select(
            predictions.c.source,
            predictions.c.model_name,
            predictions.c.model_version,
            func.count().label("rows"),
            func.count(predictions.c.request_id.distinct()).label("requests"),
        )
        .group_by(predictions.c.source, predictions.c.model_name, predictions.c.model_version)
        .order_by(predictions.c.source, predictions.c.model_version)
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
