"""Class probabilities as the serving layer stores them: one JSON object per prediction, ``{class: probability}``
(the class as text, in the model's class order), in `predictions.probabilities`. The service writes each answer's
(service.py); a batch chunk's are encoded here in bulk, so an analyst ranks batch rows like online ones (the
`scored` view).

On SQLite a chunk is one ``INSERT ... SELECT FROM json_each(?)``: each row travels as ``[class index,
probability, ...]`` in one JSON array that orjson writes from the numpy matrix in C, and SQLite builds each row's
label and object (``json_object`` over the numbers' own text: no digit is lost, the same text the service
writes). Elsewhere each row gets its object (``documents``, ``texts``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection

from .database import Request, predictions


@dataclass(frozen=True)
class ClassProbabilities:
    """A chunk's class probabilities: one row per scored row, one column per class of ``classes`` (the model's)."""

    classes: tuple[Any, ...]
    values: np.ndarray

    @property
    def keys(self) -> list[str]:
        """The JSON object's keys: each class as text, as the service's answers have them."""
        return [str(c) for c in self.classes]

    def documents(self) -> list[dict[str, float]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.values.tolist()]

    def texts(self) -> list[str]:
        """Each row's object as JSON text."""
        return [json.dumps(document) for document in self.documents()]

    def sqlite_select(self, labels: Sequence[Any]) -> tuple[str, list[Any]] | None:
        """The SELECT list's label and object expressions over ``json_each(?) AS j`` and their parameters, with the
        chunk's JSON array last; None when a label is not one of the classes (the row-by-row path then writes it)."""
        codes = {label: index for index, label in enumerate(self.classes)}
        try:
            coded = np.fromiter((codes[label] for label in labels), dtype=np.float64, count=len(labels))
        except (KeyError, TypeError):
            return None
        rows = orjson.dumps(np.column_stack([coded, self.values]), option=orjson.OPT_SERIALIZE_NUMPY).decode()
        label = "? -> ('$[' || CAST(j.value ->> '$[0]' AS INTEGER) || ']')"  # the class, as JSON text
        pairs = ", ".join(f"?, j.value -> '$[{column + 1}]'" for column in range(len(self.classes)))
        return f"{label}, json_object({pairs})", [json.dumps(list(self.classes)), *self.keys, rows]


def insert_with_probabilities(
    connection: Connection,
    request: Request,
    positions: np.ndarray,
    values: Sequence[Any],
    keys: Sequence[str] | None,
    probabilities: ClassProbabilities,
) -> None:
    """Classification rows with their class probabilities, by the same routes as store.py's ``_insert_scored`` (its one caller is ``store.insert_scored``)."""
    if not len(positions):
        return
    first = int(positions[0])
    contiguous = int(positions[-1]) - first + 1 == len(positions)
    dialect = connection.dialect.name
    select_list = probabilities.sqlite_select(values) if dialect == "sqlite" and keys is None and contiguous else None
    if select_list is not None:
        expressions, parameters = select_list
        connection.exec_driver_sql(
            f"INSERT INTO {predictions.name} (request, row_index, prediction, probabilities) "
            f"SELECT ?, ? + j.key, {expressions} FROM json_each(?) AS j",
            (request.id, first, *parameters),
        )
        return
    positions = positions.tolist()
    row_keys: Sequence[str | None] = keys or [None] * len(positions)
    if dialect == "postgresql" and connection.dialect.driver == "psycopg":
        driver = connection.connection.driver_connection
        if driver is None:
            raise RuntimeError("the serving layer's database connection is closed")
        columns = "request, row_index, row_key, prediction, probabilities"
        with driver.cursor().copy(f"COPY {predictions.name} ({columns}) FROM STDIN") as copy:
            for row in zip(positions, row_keys, values, probabilities.texts(), strict=True):
                copy.write_row((request.id, row[0], row[1], json.dumps(row[2]), row[3]))
        return
    connection.execute(
        predictions.insert(),
        [
            {"request": request.id, "row_index": p, "row_key": k, "prediction": v, "probabilities": d}
            for p, k, v, d in zip(positions, row_keys, values, probabilities.documents(), strict=True)
        ],
    )
