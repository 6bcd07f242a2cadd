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
                    keyed like predictions (request, row_index), with its source (http, file; "unverified" for
                    labels stored before sources were recorded) and sender (the token's fingerprint, the file)
    feedback_conflicts  a later label for a labelled prediction that differs from the stored one: kept here,
                    never written over it; a prediction with a conflict is left out of live metrics and harvest

A prediction's id is ``<request id>:<row key>`` (``prediction_id``): the service returns it with each answer, and
a batch row's id is its batch id and row key (the key column's value, or the row's position in the file).
Online requests keep their features in `predictions.inputs` (all of them, or the share monitor.online_features
of params.yaml); a batch keeps its input file's path and digest in `requests` and the features of a sample of
its rows (monitor.batch_sample_rows) in `predictions.inputs`, which is what monitoring reads.

A batch's constant columns live once in `requests`, so a scored row is three small values: that is what lets
a batch job write about as fast as the model predicts. (request, row_index) is the primary key, which is what
makes batch reruns idempotent.

This module owns the schema and the connection; store.py writes, queries.py reads, writer.py is the background
writer the service and batch jobs share.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
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
from sqlalchemy.exc import DBAPIError

from ..core.errors import UserError

log = logging.getLogger(__name__)
ONLINE = "online"
BATCH = "batch"
ID = BigInteger().with_variant(Integer, "sqlite")

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
# Where a label came from: POST /feedback (a sender that holds FEEDBACK_TOKEN), a file stored with `make feedback`
# (whoever reaches the serving database: the trusted side), or, for labels stored before sources were recorded,
# when POST /feedback took labels from anyone: unverified, and never trusted.
LABEL_HTTP, LABEL_FILE, LABEL_UNVERIFIED = "http", "file", "unverified"
TRUSTED_LABELS = (LABEL_HTTP, LABEL_FILE)
feedback = Table(
    "feedback",
    metadata,
    Column("request", ID, ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True),
    Column("row_index", Integer, primary_key=True, autoincrement=False),
    Column("label", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False),
    Column("sender", String(256), nullable=True),
    sqlite_with_rowid=False,
)
feedback_conflicts = Table(
    "feedback_conflicts",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("request", ID, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("row_index", Integer, nullable=False),
    Column("label", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False),
    Column("sender", String(256), nullable=True),
    Index("ix_feedback_conflicts_prediction", "request", "row_index"),
)
# What an analyst reads of each prediction: the  view's columns, and labelled predictions' (queries.py)
SCORED_COLUMNS = (
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
scored = (
    select(*SCORED_COLUMNS)
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


CONNECT_TIMEOUT_S = 5.0  # PostgreSQL: a server that does not answer the connection is an error after this
LOCK_TIMEOUT_S = 5.0  # PostgreSQL: a statement that waits this long for a lock (another client's) gives up
STATEMENT_TIMEOUT_S = 300.0  # PostgreSQL: any statement (a batch chunk's COPY, a monitoring query) at most this
BUSY_TIMEOUT_S = 30.0  # SQLite: a write that waits this long for another connection's write lock gives up
# Dead peers (a cut network) are noticed by TCP keepalives within about 25 s; a frozen server process is not (its
# kernel still answers): the service's writer counts such a write as stalled (predictions/writer.py).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def engine_for(url: str, *, timeout: float | None = None) -> Engine:
    """An engine for ``url``, without connecting. ``timeout`` (seconds) bounds connecting, lock waits and each
    statement on PostgreSQL and the busy wait on SQLite (the service passes its write deadline); without it the
    module's defaults apply. Timeouts the URL sets itself (``?connect_timeout=``, ``?options=``) are kept."""
    from sqlalchemy.engine import make_url

    sqlite = url.startswith("sqlite")
    query = make_url(url).query
    connect_args: dict[str, Any] = {}
    if sqlite:
        connect_args["timeout"] = timeout or BUSY_TIMEOUT_S
    elif make_url(url).get_dialect().driver in ("psycopg", "psycopg2"):  # libpq's parameters
        limits = {"statement_timeout": timeout or STATEMENT_TIMEOUT_S, "lock_timeout": timeout or LOCK_TIMEOUT_S}
        defaults: dict[str, Any] = {"connect_timeout": max(1, round(timeout or CONNECT_TIMEOUT_S))} | KEEPALIVES
        defaults["options"] = " ".join(f"-c {name}={round(seconds * 1000)}" for name, seconds in limits.items())
        connect_args = {key: value for key, value in defaults.items() if key not in query}
    engine = create_engine(
        url,
        pool_pre_ping=not sqlite,
        connect_args=connect_args,
        json_serializer=json_text,  # the hot path writes a JSON document per row (its inputs, its probabilities)
    )
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def prepare(engine: Engine) -> None:
    """The tables and the `scored` view created (or checked: another layout is refused) on ``engine``'s database."""
    _refuse_another_schema(engine, engine.url.render_as_string(hide_password=False))
    _add_label_sources(engine)
    _create_schema(engine, engine.dialect.name == "sqlite")


def connect(url: str, *, timeout: float | None = None) -> Engine:
    """An engine for ``url`` with the tables and the `scored` view created. SQLite gets WAL and a busy timeout,
    so the service and a batch job can write at the same time; PostgreSQL gets connect, lock and statement
    timeouts (engine_for)."""
    engine = engine_for(url, timeout=timeout)
    prepare(engine)
    return engine


def transient(error: BaseException) -> bool:
    """A database error worth retrying: the server unreachable, a connection lost, a timeout or a lock, a full disk
    (it may be freed); not a refused row or a schema of another layout."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(error, OperationalError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def retrying(call: Callable[[], Any], *, seconds: float, what: str) -> Any:
    """``call()``, again after pauses of 0.5 s doubling to 8 s while it fails with a transient error, for about
    ``seconds``; then (or on any other error) the error is raised. Each retry is one log line."""
    deadline, pause = time.monotonic() + seconds, 0.5
    while True:
        try:
            return call()
        except Exception as error:
            if not transient(error) or time.monotonic() + pause > deadline:
                raise
            log.warning("%s failed (%s); retrying in %.1f s", what, describe(error), pause)
            time.sleep(pause)
            pause = min(2 * pause, 8.0)


def describe(error: BaseException) -> str:
    """A database error in one line: the driver's error and the first line of its message (no SQL, no parameters)."""
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}"[:300]


class WriteLock:
    """One writer at a time on a SQLite file across this machine's processes, queued by the kernel.

    SQLite lets one writer in at a time and makes the others retry with sleeps that grow to 100 ms (its busy
    handler): the service's two workers, each committing every few milliseconds, made a commit wait up to 630 ms
    although the lock was free again after 3 (measured: 100-row requests at 4 clients, commit p50 3 ms, max
    630 ms; 28 ms with one worker). Taking an flock on ``<database>.write-lock`` first hands the turn over the
    moment it is free. Other databases lock rows themselves, so there it does nothing."""

    def __init__(self, engine: Engine) -> None:
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        held = path and path != ":memory:"
        self._file = Path(f"{path}.write-lock").open("a") if held else None  # noqa: SIM115 (open while it lives)
        self._thread = threading.Lock()  # an flock is per open file: threads of one process queue here

    def __enter__(self) -> None:
        self._thread.acquire()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._thread.release()


def json_text(value: Any) -> str:
    """JSON text of a column value, as json.dumps writes it in a fifth of the time (orjson; py-spy: the serving
    writer spent a third of its time in json.dumps). orjson writes NaN as null: a text with a null (a missing
    value, or a NaN) is written by json.dumps instead, which keeps NaN (the readers' json.loads reads it back),
    and so is what orjson refuses (keys that are not text)."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        return json.dumps(value)
    return json.dumps(value) if b"null" in text else text.decode()


def _create_schema(engine: Engine, sqlite: bool, attempts: int = 5) -> None:
    """The tables and the view, made by whichever process comes first: the service's workers (and replicas) start
    at the same moment on a new database, and a table another one created between our check and our CREATE is an
    error that only means the schema is there; we look again."""
    view = str(scored.element.compile(engine, compile_kwargs={"literal_binds": True}))
    create = "CREATE VIEW IF NOT EXISTS" if sqlite else "CREATE OR REPLACE VIEW"
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine)
            with engine.begin() as connection:
                connection.execute(text(f"{create} scored AS {view}"))
        except DBAPIError:  # "already exists", or PostgreSQL's "tuple concurrently updated" on the view
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
        else:
            return


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


def _add_label_sources(engine: Engine) -> None:
    """A `feedback` table from before labels had a source gets the columns, its labels marked unverified (they were
    taken from anyone). Several processes may start at once: a column another one added meanwhile is fine."""
    from sqlalchemy import inspect

    for column, kind in (("source", f"VARCHAR(16) NOT NULL DEFAULT '{LABEL_UNVERIFIED}'"), ("sender", "VARCHAR(256)")):
        inspector = inspect(engine)
        if not inspector.has_table(feedback.name):
            return
        if column in {c["name"] for c in inspector.get_columns(feedback.name)}:
            continue
        try:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {feedback.name} ADD COLUMN {column} {kind}"))
        except DBAPIError:
            if column not in {c["name"] for c in inspect(engine).get_columns(feedback.name)}:
                raise


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
