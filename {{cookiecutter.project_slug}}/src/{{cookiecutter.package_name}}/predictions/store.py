"""Writes to the serving layer (schema and connection: database.py): the hot path's rows (``insert``, one
transaction per group of requests), a batch job's `requests` row (``open_batch``: created, or found again on a
rerun) and its scored chunks (``insert_scored``, by the fastest route the database has, with the features of the
batch's sampled rows among them), and ground truth (``record_feedback``, by prediction id, with its source; a
label that contradicts the stored one is kept as a conflict, never written over it).

A batch's constant columns live once in `requests`, so a scored row is three small values: that is what lets
a batch job write about as fast as the model predicts. (request, row_index) is the primary key, which is what
makes batch reruns idempotent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError

from ..core.errors import UserError
from .database import (
    BATCH,
    LABEL_FILE,
    ONLINE,
    Request,
    feedback,
    feedback_conflicts,
    json_text,
    now,
    predictions,
    requests,
)


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
        if connection.dialect.name == "sqlite":  # the text SQLAlchemy's JSON type writes, without its per-row
            connection.exec_driver_sql(  # machinery: half the CPU of a 100-row commit
                f"INSERT INTO {predictions.name} (request, row_index, row_key, inputs, prediction, probabilities) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        request_of[row["source"], row["request_id"]],
                        row["row_index"],
                        row.get("row_key"),
                        json_text(row.get("inputs")),
                        json_text(row["prediction"]),
                        json_text(row.get("probabilities")),
                    )
                    for row in rows
                ],
            )
            return
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
    *,
    inputs: Mapping[int, dict[str, Any]] | None = None,
) -> None:
    """The cold path's rows (one per scored input row) in one transaction, by the fastest route the database
    has: COPY on PostgreSQL; on SQLite one INSERT ... SELECT over a JSON array (the whole chunk is written in
    C, with the GIL released, so the next chunk is scored meanwhile); SQLAlchemy's executemany elsewhere.
    Without ``keys`` the positions are the keys (row_key stays empty). ``inputs``: the features of some of the
    request's rows (a batch's sample, by row index), attached in the same transaction."""
    try:
        with engine.begin() as connection:
            _insert_scored(connection, request, positions, values, keys)
            if inputs:
                _keep_inputs(connection, request, inputs)
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
    connection: Connection,
    request: Request,
    positions: np.ndarray,
    values: Sequence[Any],
    keys: Sequence[str] | None,
) -> None:
    if not len(positions):
        return
    first = int(positions[0])
    contiguous = int(positions[-1]) - first + 1 == len(positions)
    numbers = _numbers(values)
    dialect = connection.dialect.name
    if dialect == "sqlite" and keys is None and contiguous and numbers is not None:
        connection.exec_driver_sql(
            f"INSERT INTO {predictions.name} (request, row_index, prediction) "
            f"SELECT ?, ? + j.key, {_NUMBER if numbers else _ANY} FROM json_each(?) AS j",
            (request.id, first, json.dumps(values)),
        )
        return
    positions = positions.tolist()
    if dialect == "postgresql" and connection.dialect.driver == "psycopg":
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


def resolve(
    engine: Engine, keys: Sequence[tuple[str, str]], sources: Sequence[str] = (ONLINE, BATCH)
) -> dict[tuple[str, str], tuple[int, int]]:
    """(request or batch id, row key) -> the prediction's primary key (request, row_index), for those that exist
    among the requests of ``sources`` (online, batch): a prediction of another source is not found."""
    wanted: dict[str, set[str]] = {}
    for request_id, key in keys:
        wanted.setdefault(request_id, set()).add(key)
    found: dict[tuple[str, str], tuple[int, int]] = {}
    with engine.connect() as connection:
        heads: list[Any] = []
        names = list(wanted)
        for begin in range(0, len(names), LOOKUP_CHUNK):
            query = select(requests.c.id, requests.c.request_id).where(
                requests.c.request_id.in_(names[begin : begin + LOOKUP_CHUNK]), requests.c.source.in_(sources)
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


def record_feedback(
    engine: Engine,
    labels: Sequence[tuple[tuple[str, str], Any]],
    *,
    source: str = LABEL_FILE,
    sender: str | None = None,
    sources: Sequence[str] = (ONLINE, BATCH),
) -> dict[str, int]:
    """Store one label per prediction ((request or batch id, row key), label), all or none, with where it came from
    (``source``: http, file; ``sender``: who). ``sources`` are the predictions the caller may label: POST /feedback
    passes online only, so a batch row's id is as unknown to it as an id that does not exist. An unknown prediction
    refuses the whole call (UnknownPredictions names them). The first label of a prediction is stored; the same
    label again changes nothing (a resend never counts twice); a different one is kept in `feedback_conflicts`,
    never written over the first. Returns how many were new, repeated and conflicting."""
    latest = dict(labels)  # the same id twice in one call: the last label wins
    found = resolve(engine, list(latest), sources)
    missing = [prediction_id(*key) for key in latest if key not in found]
    if missing:
        raise UnknownPredictions(missing)
    received = now()
    wanted = {found[key]: label for key, label in latest.items()}
    with engine.begin() as connection:
        stored = _stored_labels(connection, feedback, list(wanted))
        disputed = _stored_labels(connection, feedback_conflicts, [k for k in wanted if k in stored])
        new, conflicts, repeated = [], [], 0
        for (request, row_index), label in wanted.items():
            row = {"request": request, "row_index": row_index, "label": label, "received_at": received}
            row |= {"source": source, "sender": (sender or "")[:256] or None}
            text = json_text(label)
            if (request, row_index) not in stored:
                new.append(row)
            elif text in stored[request, row_index] or text in disputed.get((request, row_index), set()):
                repeated += 1
            else:
                conflicts.append(row)
        if new:
            connection.execute(feedback.insert(), new)
        if conflicts:
            connection.execute(feedback_conflicts.insert(), conflicts)
    return {"received": len(labels), "new": len(new), "repeated": repeated, "conflicts": len(conflicts)}


def _stored_labels(
    connection: Connection, table: Any, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], set[str]]:
    """(request, row_index) -> the JSON text of each label ``table`` holds for it."""
    found: dict[tuple[int, int], set[str]] = {}
    by_request: dict[int, list[int]] = {}
    for request, row_index in keys:
        by_request.setdefault(request, []).append(row_index)
    for request, positions in by_request.items():
        for begin in range(0, len(positions), LOOKUP_CHUNK):
            query = select(table.c.row_index, table.c.label).where(
                table.c.request == request, table.c.row_index.in_(positions[begin : begin + LOOKUP_CHUNK])
            )
            for row_index, label in connection.execute(query):
                found.setdefault((request, row_index), set()).add(json_text(label))
    return found


def _keep_inputs(connection: Connection, request: Request, inputs: Mapping[int, dict[str, Any]]) -> None:
    if connection.dialect.name == "sqlite":  # the text SQLAlchemy's JSON type writes, without its per-row machinery
        connection.exec_driver_sql(
            f"UPDATE {predictions.name} SET inputs = ? WHERE request = ? AND row_index = ?",
            [(json_text(v), request.id, i) for i, v in inputs.items()],
        )
        return
    statement = (
        predictions.update()
        .where(predictions.c.request == bindparam("r"), predictions.c.row_index == bindparam("i"))
        .values(inputs=bindparam("v"))
    )
    connection.execute(statement, [{"r": request.id, "i": i, "v": v} for i, v in inputs.items()])
