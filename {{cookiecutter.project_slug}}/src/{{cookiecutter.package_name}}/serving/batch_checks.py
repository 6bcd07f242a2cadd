"""The batch job's input checks, before anything is written (serving/batch.py): the file's header against the
model's features, then a streaming pass over every value; a missing column, a value that is not a number where the
model needs one, or an empty or repeated key stops the job with one line naming the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..core.errors import UserError
from ..core.schema import Schema
from ..data import tables
from ..training import features


def _mismatch(problems: list[str]) -> features.SchemaMismatch:
    return features.SchemaMismatch(f"the input does not match the model's schema: {'; '.join(problems)}")


def _not_numbers(frame: pd.DataFrame, names: list[str]) -> list[str]:
    """One problem per column of ``names`` that holds a value that is not a number (with its row and value)."""
    problems = []
    for name in names:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = column[numbers.isna() & column.notna()]
        if len(bad):
            problems.append(f"{name} (needs numbers; row {bad.index[0]} has {bad.iloc[0]!r})")
    return problems


def check(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The frame conformed to the model's schema, or SchemaMismatch naming every offending column."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise _mismatch([f"missing column(s) {', '.join(missing)}"])
    if problems := _not_numbers(frame, schema.of_kind("numeric")):
        raise _mismatch(problems)
    return features.conform(frame, schema)


def columns_to_read(path: Path, schema: Schema, key_column: str | None) -> list[str]:
    """The model's features (and the key column): checked against the file's header before any row is read."""
    found = set(tables.column_names(path))
    if missing := [name for name in schema.names if name not in found]:
        raise _mismatch([f"missing column(s) {', '.join(missing)}"])
    if key_column is not None and key_column not in found:
        raise UserError(f"key column {key_column!r} is not in the input")
    return schema.names + ([key_column] if key_column is not None and key_column not in schema.names else [])


def scan(path: Path, schema: Schema, key_column: str | None, chunk_rows: int) -> int:
    """The first pass, before anything is written: every value of a numeric feature is a number, the key column
    is never empty and unique; returns the row count. Streams like the scoring pass: memory stays at one chunk
    (plus 8 bytes per row for the key column's hashes, when there is one). A Parquet file whose numeric features
    are stored as numbers and that has no key column needs no pass at all: its footer says it all."""
    numeric = schema.of_kind("numeric")
    rows = tables.parquet_rows(path)
    if rows is not None:  # Parquet: only columns not stored as numbers can hold text
        types = tables.parquet_types(path)
        numeric = [n for n in numeric if not (pa.types.is_integer(types[n]) or pa.types.is_floating(types[n]))]
        numeric = [n for n in numeric if not (pa.types.is_decimal(types[n]) or pa.types.is_null(types[n]))]
        if not numeric and key_column is None:
            return rows
    wanted = list(dict.fromkeys(numeric + ([key_column] if key_column else []))) or schema.names[:1]
    counted, hashes = 0, []
    try:
        for chunk in tables.chunks(path, wanted, numeric=numeric, rows=chunk_rows):
            if problems := _not_numbers(chunk, numeric):
                raise _mismatch(problems)
            if key_column is not None:
                keys = chunk[key_column]
                if keys.isna().any():
                    raise UserError(f"key column {key_column!r} must be unique and never empty")
                hashes.append(pd.util.hash_pandas_object(keys.astype(str), index=False).to_numpy())
            counted += len(chunk)
    except tables.BadValue as error:
        raise _mismatch([str(error)]) from error
    if hashes and len(np.unique(np.concatenate(hashes))) != counted:
        raise UserError(f"key column {key_column!r} must be unique and never empty")
    return counted
