"""Input tables read as a stream: CSV and Parquet files in record batches of a fixed number of rows.

Memory is set by the chunk size, not by the file: Parquet comes in through ``ParquetFile.iter_batches`` (only the
columns asked for), CSV through pyarrow's streaming reader (``pyarrow.csv.open_csv``), whose blocks are cut
again into chunks of ``rows`` rows. Column types are fixed up front (numbers as float64, everything else as
text), so a value that does not fit shows up as a conversion error naming the column, wherever it is in the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from ..core.errors import UserError

KINDS = (".csv", ".parquet")
NULL_VALUES = tuple(pacsv.ConvertOptions().null_values)  # read as missing in CSV: NA, N/A, null, empty ...
CSV_BLOCK_BYTES = 8 << 20  # the streaming CSV reader's unit of work; chunks are cut from these blocks


class BadValue(UserError):
    """A value that cannot be read as the column's type (text where a number must be)."""

    def __init__(self, column: str, value: str) -> None:
        super().__init__(f"{column} (needs numbers; found {value!r})")
        self.column, self.value = column, value


def file_md5(path: Path) -> str:
    """The same content hash DVC records for a file in dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kind(path: Path) -> str:
    if not path.exists():
        raise UserError(f"{path} not found")
    suffix = path.suffix.lower()
    if suffix not in KINDS:
        raise UserError(f"{path}: expected a .csv or .parquet file")
    return suffix


def column_names(path: Path) -> list[str]:
    """The table's columns, from the Parquet footer or the CSV header line (nothing else is read)."""
    if kind(path) == ".parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)) as reader:
        return list(reader.schema.names)


def parquet_rows(path: Path) -> int | None:
    """Row count from the Parquet footer; None for CSV (counted while streaming)."""
    return pq.ParquetFile(path).metadata.num_rows if kind(path) == ".parquet" else None


def parquet_types(path: Path) -> dict[str, pa.DataType]:
    return {field.name: field.type for field in pq.ParquetFile(path).schema_arrow}


def _csv_reader(path: Path, columns: Sequence[str], numeric: Sequence[str]) -> pacsv.CSVStreamingReader:
    types = {name: (pa.float64() if name in numeric else pa.string()) for name in columns}
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(columns),
            null_values=list(NULL_VALUES),
            strings_can_be_null=True,
        ),
    )


_CONVERSION = re.compile(r"In CSV column #(\d+): .*conversion error to \w+: invalid value '(.*)'", re.DOTALL)


def _record_batches(path: Path, columns: Sequence[str], numeric: Sequence[str], rows: int) -> Iterator[pa.RecordBatch]:
    if kind(path) == ".parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=rows, columns=list(columns))
        return
    header = column_names(path)
    try:
        with _csv_reader(path, columns, numeric) as reader:
            yield from reader
    except pa.ArrowInvalid as error:
        found = _CONVERSION.search(str(error))
        if found is None:
            raise UserError(f"{path}: cannot be read as CSV: {str(error).splitlines()[0]}") from error
        raise BadValue(header[int(found.group(1))], found.group(2)) from error


def chunks(
    path: Path, columns: Sequence[str], *, numeric: Sequence[str] = (), rows: int = 100_000
) -> Iterator[pd.DataFrame]:
    """The table's ``columns`` as DataFrames of ``rows`` rows (the last one shorter), indexed by file position.

    ``numeric`` columns of a CSV file are read as float64 (a value that is not a number raises BadValue); the
    other CSV columns as text. Parquet columns keep the types the file stores.
    """
    for start, table in arrow_chunks(path, columns, numeric=numeric, rows=rows):
        yield _frame(table, start)


def arrow_chunks(
    path: Path, columns: Sequence[str], *, numeric: Sequence[str] = (), rows: int = 100_000
) -> Iterator[tuple[int, pa.Table]]:
    """``chunks`` as Arrow tables, each with the file position of its first row (the batch job reads these: no
    DataFrame per chunk)."""
    if rows < 1:
        raise UserError(f"chunk rows must be at least 1, got {rows}")
    pending: list[pa.RecordBatch] = []
    held = start = 0
    for batch in _record_batches(path, columns, numeric, rows):
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield start, table.slice(0, rows)
            start += rows
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield start, pa.Table.from_batches(pending)


def _frame(table: pa.Table, start: int) -> pd.DataFrame:
    frame = table.to_pandas(split_blocks=True, self_destruct=False)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates and times in any common format as UTC timestamps (NaT where a value is not one): ISO 8601 at C speed,
    other formats value by value (month first where the order is ambiguous, as pandas reads them). Times without
    an offset are taken as UTC, so the calendar features of a value are the same wherever it is read."""
    if ptypes.is_datetime64_any_dtype(values):
        return pd.Series(pd.to_datetime(values, utc=True), index=values.index)
    text = values.astype(object).where(values.notna(), None)
    try:
        return pd.Series(pd.to_datetime(text, format="ISO8601", utc=True), index=values.index)
    except (ValueError, TypeError, OverflowError):
        return pd.Series(pd.to_datetime(text, format="mixed", errors="coerce", utc=True), index=values.index)


DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def read_table(path: Path, delimiter: str = ",") -> pd.DataFrame:
    """The whole table, in memory (ingest, feedback labels, a few rows to send): a CSV (``NA``, empty and the usual spellings read as missing) or Parquet file; bad files are one clear error."""
    if not path.exists():
        raise UserError(f"{path} does not exist")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    try:
        frame = pd.read_csv(path, sep=delimiter)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty: no header row, no data") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not a readable CSV: {str(error).strip().splitlines()[0]}") from None
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        found = [(sep, name) for sep, name in DELIMITERS.items() if sep in header and sep != delimiter]
        if found:
            sep, name = found[0]
            raise UserError(
                f"{path} parses into one column {header[:60]!r}: it looks {name}-separated ({sep!r}), not "
                f"separated by {delimiter!r}. Set ingest.delimiter: {sep!r} in params.yaml, or save the file "
                "comma-separated"
            )
    return frame
