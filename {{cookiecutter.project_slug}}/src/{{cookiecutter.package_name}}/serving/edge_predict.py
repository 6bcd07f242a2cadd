"""Predict with this bundle's model: ``python predict.py < rows.csv > predictions.jsonl``.

Needs only onnxruntime and numpy (requirements.txt). Reads a CSV with a header line from stdin: the columns that
schema.json lists, in any order (other columns are ignored). Every row is checked against schema.json before anything
is written; a row that does not fit stops the run with one line on stderr per problem, naming the row (the first
data row is row 1) and the column, and exit status 1. Then one JSON object per input row goes to stdout, in input
order: ``prediction``, and for a classifier ``probabilities`` (class -> probability).

- A number column takes a finite number; an empty cell (or NA, null, NaN: the same markers the project's batch job
  reads as missing) is a missing value, imputed as in training. A text column takes any text: a value the model
  never saw in training is encoded as none of the known ones, as the service does (``--strict`` refuses it instead).
- The label is the most probable class, unless schema.json's ``decision`` sets a threshold: then a binary model
  answers its positive class when that class's probability is at least the threshold.

This file is the project's ``serving/edge_predict.py``, copied as it is into each bundle (``make edge``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
# What pyarrow's CSV reader (the batch job's) reads as missing by default
MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "N/A", "NA", "NULL"}
    | {"NaN", "n/a", "nan", "null"}
)
MISSING_TEXT = ""  # how the ONNX model takes a missing category (the project's training/onnx_export.py)
CHUNK_ROWS = 4096  # rows per model call
SHOWN_PROBLEMS = 10


class BadInput(Exception):
    """The input does not fit schema.json: the message names each problem's row and column."""


def load_schema(folder: Path = HERE) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((folder / "schema.json").read_text())
    return schema


def session(folder: Path = HERE) -> Any:
    """The model in an onnxruntime session on one thread (as the project serves it)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])


def _numbers(name: str, cells: list[str]) -> tuple[np.ndarray, list[str]]:
    """A number column as float64 (missing: NaN), and its problems."""
    raw = np.array(cells, dtype=object)
    missing = np.fromiter((cell in MISSING for cell in cells), dtype=bool, count=len(cells))
    raw[missing] = "nan"
    try:
        values = raw.astype(np.float64)
    except ValueError:
        values = np.full(len(cells), np.nan)
        problems = []
        for row, cell in enumerate(cells, start=1):
            if missing[row - 1]:
                continue
            try:
                values[row - 1] = float(cell)
            except ValueError:
                problems.append(f"row {row}, column {name!r}: {cell!r} is not a number")
        return values, problems
    infinite = np.flatnonzero(~missing & ~np.isfinite(values))
    problems = [
        f"row {i + 1}, column {name!r}: {cells[i]!r} is not a finite number (leave it empty when it is missing)"
        for i in infinite
    ]
    return values, problems


def _texts(name: str, cells: list[str], known: Sequence[str] | None, strict: bool) -> tuple[np.ndarray, list[str]]:
    """A text column as objects (missing: the empty text), and its problems (``strict``: unknown values)."""
    values = np.array([MISSING_TEXT if cell in MISSING else cell for cell in cells], dtype=object)
    problems = []
    if strict and known is not None:
        allowed = set(known)
        problems = [
            f"row {i + 1}, column {name!r}: {cell!r} is not one of the values the model knows ({len(allowed)} in "
            "schema.json)"
            for i, cell in enumerate(values)
            if cell != MISSING_TEXT and cell not in allowed
        ]
    return values, problems


def read_columns(stream: io.TextIOBase, schema: dict[str, Any], *, strict: bool = False) -> dict[str, np.ndarray]:
    """The input's model columns, checked (BadInput names every problem's row and column)."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise BadInput("the input is empty: expected a CSV header line, then one line per row")
    wanted = [column["name"] for column in schema["columns"]]
    absent = [name for name in wanted if name not in header]
    if absent:
        raise BadInput(f"the input has no column(s) {', '.join(map(repr, absent))} (schema.json lists the model's)")
    position = {name: header.index(name) for name in wanted}
    cells: dict[str, list[str]] = {name: [] for name in wanted}
    problems = []
    for row, fields in enumerate(reader, start=1):
        if len(fields) != len(header):
            problems.append(f"row {row}: {len(fields)} fields, the header has {len(header)}")
            continue
        for name, index in position.items():
            cells[name].append(fields[index])
    columns: dict[str, np.ndarray] = {}
    for column in schema["columns"]:
        name = column["name"]
        if column["type"] == "number":
            columns[name], found = _numbers(name, cells[name])
        else:
            columns[name], found = _texts(name, cells[name], column.get("values"), strict)
        problems += found
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        shown = problems[:SHOWN_PROBLEMS] + ([f"... and {more} more"] if more > 0 else [])
        raise BadInput("the input does not fit schema.json:\n" + "\n".join(f"  {p}" for p in shown))
    return columns


def predict(model: Any, schema: dict[str, Any], columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One answer per row: the prediction, and the class probabilities for a classifier."""
    feed = {}
    for spec, column in zip(model.get_inputs(), schema["columns"], strict=True):
        values = columns[column["name"]]
        feed[spec.name] = (values.astype(np.float32) if column["type"] == "number" else values).reshape(-1, 1)
    outputs = model.run(None, feed)
    if schema["task"] != "classification":
        return [{"prediction": float(v)} for v in np.asarray(outputs[0], dtype=np.float64).reshape(-1)]
    classes = schema["classes"]
    probabilities = np.asarray(outputs[1], dtype=np.float64)
    chosen = np.argmax(probabilities, axis=1)
    decision = schema.get("decision") or {}
    if decision.get("threshold") is not None and len(classes) == 2:
        positive = classes.index(decision["positive_class"])
        chosen = np.where(probabilities[:, positive] >= decision["threshold"], positive, 1 - positive)
    names = [str(c) for c in classes]
    return [
        {"prediction": classes[k], "probabilities": dict(zip(names, row.tolist(), strict=True))}
        for k, row in zip(chosen.tolist(), probabilities, strict=True)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Predict: CSV with a header on stdin, JSON lines on stdout.")
    parser.add_argument("--strict", action="store_true", help="refuse text values the model never saw in training")
    args = parser.parse_args(argv)
    schema = load_schema()
    stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
    try:
        columns = read_columns(stream, schema, strict=args.strict)
    except (BadInput, csv.Error, UnicodeDecodeError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    model = session()
    rows = len(next(iter(columns.values()))) if columns else 0
    out = sys.stdout
    for start in range(0, rows, CHUNK_ROWS):
        part = {name: values[start : start + CHUNK_ROWS] for name, values in columns.items()}
        out.write("".join(json.dumps(answer) + "\n" for answer in predict(model, schema, part)))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
