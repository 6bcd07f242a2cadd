"""Batch scoring (cold path): a CSV or Parquet table, scored with the champion in chunks, into the serving layer.

``python -m <package> batch --input FILE [--batch-id ID] [--key-column COLUMN]`` (``make batch``).
One row per input row goes to the serving layer's `predictions` table (read through the `scored` view: source
"batch", the batch id, the row key (the key column's value, or the row's position in the file), the model
version, the prediction and, for classification, the class probabilities, as the service stores them); the batch
itself is one `requests` row (input file, digest, model, row count).

- Bounded memory: the file is streamed in chunks of --chunk-rows rows (data/tables.py: Parquet record batches, pyarrow's
  streaming CSV reader), so peak memory is set by the chunk size, never by the file: a file larger than RAM scores.
- Schema first: the header, then every value of the input is checked against the champion's features (a first
  streaming pass) before anything is written; a missing column or a value that is not a number where the model
  needs one stops the job, naming the column.
- Idempotent and crash-safe: each chunk is written in one transaction, and a rerun with the same batch id
  (the default is derived from the file's name and content) skips the rows already written. Kill it at
  any point and run it again: exactly one row per input row, none lost, none duplicated. A rerun must see
  the same file and the same champion; another file or a new champion under an old batch id is refused.
- Fast: three threads overlap: one reads and decodes the next chunk, the main one scores this one, the writer
  commits the last one (on SQLite one statement that SQLite runs in C: predictions/store.insert_scored). Numbers go
  from Arrow to the model's arrays without a DataFrame; the sample's features (monitor.batch_sample_rows) are
  written with their chunk. Start-up imports neither MLflow nor BentoML when the champion is the BentoML store's
  latest already (serving/champion.py: tracking/aliases.py reads the registry's alias, bento_folder.py the store's folder).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import select
from tqdm import tqdm

from ..core.config import CHUNK_ROWS, Config
from ..core.schema import Schema
from ..data import tables
from ..predictions import database, queries, store, writer
from ..predictions.probabilities import ClassProbabilities
from ..training import features
from .batch_checks import columns_to_read, scan
from .champion import champion
from .model import ServedModel

log = logging.getLogger(__name__)
DB_RETRY_S = 60.0  # transient database errors (unreachable, locked, a lost connection) are retried this long


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    input: str
    rows: int
    written: int
    skipped: int
    model_name: str
    model_version: str
    seconds: float  # the whole job: reading, checking, loading the model, scoring and writing
    scoring_seconds: float  # scoring and writing only

    @property
    def rows_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    @property
    def scoring_rows_per_second(self) -> float:
        return self.written / self.scoring_seconds if self.scoring_seconds else 0.0


def default_batch_id(path: Path, digest: str) -> str:
    """Same file, same id: a rerun continues the interrupted job instead of starting another one."""
    return f"{path.stem}-{digest[:12]}"


def written_between(engine: Any, request: database.Request, start: int, stop: int) -> np.ndarray:
    """Row positions in [start, stop) already written for the batch: what a rerun skips, one chunk at a time."""
    query = select(database.predictions.c.row_index).where(
        database.predictions.c.request == request.id,
        database.predictions.c.row_index >= start,
        database.predictions.c.row_index < stop,
    )
    with engine.connect() as connection:
        return np.fromiter(connection.execute(query).scalars(), dtype=np.int64)


def _advance(bar: Any, rows: int, written: Any) -> None:
    """The progress bar counts a chunk once it is committed."""
    if written.exception() is None:
        bar.update(rows)


Scored = tuple[np.ndarray, list[Any], list[str] | None, ClassProbabilities | None, dict[int, dict[str, Any]]]


def write_chunks(engine: Any, request: database.Request, items: Sequence[Scored], lock: database.WriteLock) -> None:
    """Each scored chunk (positions, labels, keys, class probabilities, the features of its sampled rows) in its own
    transaction: a crash loses at most the chunks in flight, and a rerun writes them. ``lock``: in turn with a
    running service's writers on the same SQLite file (database.WriteLock)."""
    for positions, labels, keys, probabilities, inputs in items:
        with lock:
            store.insert_scored(engine, request, positions, labels, keys, probabilities=probabilities, inputs=inputs)


def class_probabilities(served: ServedModel, probabilities: np.ndarray | None) -> ClassProbabilities | None:
    """A chunk's class probabilities as the serving layer stores them (classification; None for regression)."""
    return None if probabilities is None else ClassProbabilities(served.schema.classes, probabilities)


# Arrow types whose values become the model's float64 features as they are (what features.conform makes of them).
PLAIN_NUMBERS = (pa.types.is_integer, pa.types.is_floating, pa.types.is_null)


def columns_of(table: pa.Table, schema: Schema) -> dict[str, np.ndarray]:
    """One array per feature of a chunk, the arrays features.conform then runtime.columns_of make of its DataFrame:
    numbers stored as numbers go from Arrow to float64 (missing: NaN) without a DataFrame; the other columns
    (categories, numbers stored as text) go through pandas and features.conform, as before."""
    columns: dict[str, np.ndarray] = {}
    other = []
    for feature in schema.features:
        column = table.column(feature.name)
        if feature.kind == "numeric" and any(plain(column.type) for plain in PLAIN_NUMBERS):
            columns[feature.name] = column.cast(pa.float64(), safe=False).to_numpy()
        else:
            other.append(feature)
    if other:
        part = Schema(schema.target, schema.task, tuple(other), schema.classes)
        conformed = features.conform(table.select(part.names).to_pandas(split_blocks=True), part)
        columns |= {name: conformed[name].to_numpy() for name in part.names}
    return {name: columns[name] for name in schema.names}


def read_ahead(
    chunks: Iterator[tuple[int, pa.Table]], schema: Schema
) -> Iterator[tuple[int, pa.Table, dict[str, np.ndarray]]]:
    """The chunks with their feature arrays (columns_of), the next one read and decoded in a thread while this one
    is scored (pyarrow and numpy release the GIL as they work): one chunk more in memory."""

    def following() -> tuple[int, pa.Table, dict[str, np.ndarray]] | None:
        found = next(chunks, None)
        return None if found is None else (*found, columns_of(found[1], schema))

    with ThreadPoolExecutor(1, thread_name_prefix="batch-reader") as reader:
        pending = reader.submit(following)
        while (item := pending.result()) is not None:
            pending = reader.submit(following)
            yield item


def sample_inputs(columns: dict[str, np.ndarray], start: int, sample: np.ndarray) -> dict[int, dict[str, Any]]:
    """The features of the chunk's rows that are in the batch's sample (positions), by position, as stored in
    `predictions.inputs`: numbers as floats, categories as text, missing values as None."""
    rows = len(next(iter(columns.values()))) if columns else 0
    picked = sample[(sample >= start) & (sample < start + rows)]
    if not len(picked):
        return {}
    values: dict[str, list[Any]] = {}
    for name, column in columns.items():
        taken = column[picked - start].astype(object)
        taken[np.asarray(pd.isna(taken), dtype=bool)] = None
        values[name] = taken.tolist()
    names = list(values)
    return {
        int(position): dict(zip(names, row, strict=True))
        for position, row in zip(picked, zip(*values.values(), strict=True), strict=True)
    }


@dataclass(frozen=True)
class Job:
    """A batch job opened in the serving layer, the same for every engine: the file checked (header and every
    value) against the champion's schema, its row count and digest, and how many rows a rerun finds written."""

    path: Path
    served: ServedModel
    columns: list[str]
    rows: int
    digest: str
    batch_id: str
    engine: Any
    request: database.Request
    already: int

    def result(self, written: int, skipped: int, started: float, scoring: float) -> BatchResult:
        """What the job did, the same record for every engine (``started``/``scoring``: perf_counter times)."""
        now = time.perf_counter()
        return BatchResult(
            batch_id=self.batch_id,
            input=str(self.path),
            rows=self.rows,
            written=written,
            skipped=skipped,
            model_name=self.served.name,
            model_version=self.served.version,
            seconds=now - started,
            scoring_seconds=now - scoring,
        )


def open_job(
    cfg: Config, path: Path, batch_id: str | None, key_column: str | None, chunk_rows: int, retry_s: float = DB_RETRY_S
) -> Job:
    """Check the input before anything is written, then open (or find again, on a rerun) its batch request
    (transient database errors retried for ``retry_s`` seconds)."""
    tables.kind(path)
    served = champion(cfg)
    columns = columns_to_read(path, served.schema, key_column)
    rows = scan(path, served.schema, key_column, chunk_rows)
    digest = tables.file_md5(path)
    batch_id = batch_id or default_batch_id(path, digest)

    def opened() -> tuple[Any, database.Request, int]:
        engine = database.connect(cfg.serving.resolved_db_url)
        request = store.open_batch(
            engine,
            batch_id,
            model_name=served.name,
            model_version=served.version,
            input=str(path),
            digest=digest,
            rows=rows,
        )
        return engine, request, queries.count(engine, database.BATCH, batch_id)

    engine, request, already = database.retrying(opened, seconds=retry_s, what=f"opening batch {batch_id}")
    return Job(path, served, columns, rows, digest, batch_id, engine, request, already)


def run(
    cfg: Config,
    input_path: Path | str,
    *,
    batch_id: str | None = None,
    key_column: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
    retry_s: float = DB_RETRY_S,
) -> BatchResult:
    """Score ``input_path`` into the serving layer; transient database errors are retried for ``retry_s`` seconds
    (per chunk), then raised (resume.py names the database and the command that resumes)."""
    started = time.perf_counter()
    job = open_job(cfg, Path(input_path), batch_id, key_column, chunk_rows, retry_s)
    path, served, columns, rows, digest = job.path, job.served, job.columns, job.rows, job.digest
    batch_id, engine, request, already = job.batch_id, job.engine, job.request, job.already
    if already:
        log.info(
            "batch %s: %d of %d row(s) already written, scoring the other %d", batch_id, already, rows, rows - already
        )
    scoring = time.perf_counter()
    skipped = already if already == rows else 0  # all there: nothing to read again
    numeric = served.schema.of_kind("numeric")
    bar = tqdm(total=rows - already, unit="row", unit_scale=True, desc=f"batch {batch_id}", disable=not progress)
    sample = sample_positions(rows, digest, cfg.monitor.batch_sample_rows)
    lock = database.WriteLock(engine)
    chunks: writer.Writer[Scored] = writer.Writer(
        lambda items: write_chunks(engine, request, items, lock),
        name="batch-writer",
        group=1,
        depth=2,
        stop_on_error=True,
        retry_for=retry_s,
        retry=database.transient,
        describe=database.describe,
    )
    with bar:
        try:
            read = tables.arrow_chunks(path, columns, numeric=numeric, rows=chunk_rows) if already < rows else iter(())
            for start, table, features_of in read_ahead(read, served.schema):
                inputs = sample_inputs(features_of, start, sample)
                positions = np.arange(start, start + table.num_rows, dtype=np.int64)
                keep = None
                if already:
                    done = database.retrying(
                        functools.partial(written_between, engine, request, start, start + table.num_rows),
                        seconds=retry_s,
                        what=f"reading batch {batch_id}'s written rows",
                    )
                    skipped += len(done)
                    if len(done):
                        keep = ~np.isin(positions, done)
                        positions = positions[keep]
                        features_of = {name: column[keep] for name, column in features_of.items()}
                if len(positions):
                    labels, probabilities = served.predict_columns(features_of)
                    keys = None
                    if key_column is not None:
                        key_values = table.column(key_column).to_pandas().astype(str)
                        keys = (key_values if keep is None else key_values[keep]).tolist()
                    item: Scored = (
                        positions, labels.tolist(), keys, class_probabilities(served, probabilities), inputs
                    )  # fmt: skip
                elif inputs:  # every row there already: only the sample's features (idempotent)
                    item = (positions, [], None, None, inputs)
                else:
                    continue
                written = chunks.submit(item)
                written.add_done_callback(functools.partial(_advance, bar, len(positions)))
        finally:
            chunks.close()  # commits the chunks in flight, also when scoring stopped
    if chunks.error is not None:
        raise chunks.error
    result = job.result(rows - skipped, skipped, started, scoring)
    log.info(
        "batch %s: %d row(s) scored by %s v%s into the serving layer (%d already there) in %.1fs",
        batch_id,
        result.written,
        served.name,
        served.version,
        result.skipped,
        result.seconds,
    )
    return result


def sample_positions(rows: int, digest: str, size: int) -> np.ndarray:
    """A fixed sample of the batch's row positions, for monitoring: the same rows on every rerun of the same file."""
    if size <= 0 or rows <= 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(int(digest[:8], 16))
    return np.sort(rng.choice(rows, size=min(size, rows), replace=False))


def as_dict(result: BatchResult) -> dict:
    return asdict(result) | {
        "rows_per_second": round(result.rows_per_second, 1),
        "scoring_rows_per_second": round(result.scoring_rows_per_second, 1),
    }
