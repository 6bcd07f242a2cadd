"""Batch scoring (cold path): a CSV or Parquet table, scored with the champion in chunks, into the serving layer.

``python -m <package> batch --input FILE [--batch-id ID] [--key-column COLUMN]`` (``make batch``).
One row per input row goes to the serving layer's `predictions` table (read through the `scored` view: source
"batch", the batch id, the row key (the key column's value, or the row's position in the file), the model
version and the prediction); the batch itself is one `requests` row (input file, digest, model, row count).

- Schema first: the whole input is checked against the champion's features before anything is written; a
  missing column or a value that is not a number where the model needs one stops the job, naming the column.
- Idempotent and crash-safe: each chunk is written in one transaction, and a rerun with the same batch id
  (the default is derived from the file's name and content) skips the rows already written. Kill it at
  any point and run it again: exactly one row per input row, none lost, none duplicated. A rerun must see
  the same file and the same champion; another file or a new champion under an old batch id is refused.
- Fast: scoring the next chunk overlaps with writing the last one, and on SQLite a chunk is written by one
  statement that SQLite runs in C (see store.insert_scored).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import features, serving
from .config import Config, UserError
from .serving import store

log = logging.getLogger(__name__)
CHUNK_ROWS = 100_000


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


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{path} not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise UserError(f"{path}: expected a .csv or .parquet file")


def file_digest(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_batch_id(path: Path, digest: str) -> str:
    """Same file, same id: a rerun continues the interrupted job instead of starting another one."""
    return f"{path.stem}-{digest[:12]}"


def check(frame: pd.DataFrame, schema: features.Schema) -> pd.DataFrame:
    """The frame conformed to the model's schema, or SchemaMismatch naming every offending column."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise features.SchemaMismatch(
            f"the input does not match the model's schema: missing column(s) {', '.join(missing)}"
        )
    problems = []
    for name in schema.of_kind("numeric"):
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        bad = column[numbers.isna() & column.notna()]
        if len(bad):
            problems.append(f"{name} (needs numbers; row {bad.index[0]} has {bad.iloc[0]!r})")
    if problems:
        raise features.SchemaMismatch(f"the input does not match the model's schema: {'; '.join(problems)}")
    return features.conform(frame, schema)


def row_keys(frame: pd.DataFrame, key_column: str | None) -> pd.Series | None:
    """The key column's values as text, or None: the rows' positions are their keys."""
    if key_column is None:
        return None
    if key_column not in frame.columns:
        raise UserError(f"key column {key_column!r} is not in the input")
    keys = frame[key_column]
    if keys.isna().any() or keys.duplicated().any():
        raise UserError(f"key column {key_column!r} must be unique and never empty")
    return keys.astype(str)


class ChunkWriter:
    """Writes scored chunks on a second thread while the next chunk is scored; one transaction per chunk, so
    a crash loses at most the chunks in flight (and a rerun writes them). Errors surface in the caller."""

    def __init__(self, engine: Any, request: store.Request, depth: int = 2) -> None:
        self.engine, self.request = engine, request
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)

    def __enter__(self) -> ChunkWriter:
        self._thread.start()
        return self

    def put(self, positions: np.ndarray, labels: list[Any], keys: list[str] | None, done: Any) -> None:
        self._raise()
        self._queue.put((positions, labels, keys, done))

    def __exit__(self, *exc_info: Any) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_info[0] is None:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue
            positions, labels, keys, done = item
            try:
                store.insert_scored(self.engine, self.request, positions, labels, keys)
            except BaseException as error:  # reported by the next put() or at exit
                self._error = error
                continue
            done(len(positions))


def run(
    cfg: Config,
    input_path: Path | str,
    *,
    batch_id: str | None = None,
    key_column: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
) -> BatchResult:
    started = time.perf_counter()
    path = Path(input_path)
    frame = read_table(path)
    keys = row_keys(frame, key_column)
    served = serving.champion(cfg)
    X = check(frame, served.schema)
    digest = file_digest(path)
    batch_id = batch_id or default_batch_id(path, digest)

    engine = store.connect(cfg.serving.resolved_db_url)
    request = store.open_batch(
        engine,
        batch_id,
        model_name=served.name,
        model_version=served.version,
        input=str(path),
        digest=digest,
        rows=len(frame),
    )
    done = store.written_positions(engine, request)
    todo = np.setdiff1d(np.arange(len(frame)), done, assume_unique=True) if len(done) else np.arange(len(frame))
    if len(done):
        log.info(
            "batch %s: %d of %d row(s) already written, scoring the other %d",
            batch_id,
            len(frame) - len(todo),
            len(frame),
            len(todo),
        )
    scoring = time.perf_counter()
    bar = tqdm(total=len(todo), unit="row", unit_scale=True, desc=f"batch {batch_id}", disable=not progress)
    with bar, ChunkWriter(engine, request) as writer:
        for begin in range(0, len(todo), chunk_rows):
            positions = todo[begin : begin + chunk_rows]
            first, last = int(positions[0]), int(positions[-1])
            rows = X.iloc[first : last + 1] if last - first + 1 == len(positions) else X.iloc[positions]
            labels, _ = served.predict(rows)
            chunk_keys = None if keys is None else keys.iloc[positions].tolist()
            writer.put(positions, labels.tolist(), chunk_keys, bar.update)
    keep_sample(engine, request, X, digest, cfg.monitor.batch_sample_rows)
    result = BatchResult(
        batch_id=batch_id,
        input=str(path),
        rows=len(frame),
        written=len(todo),
        skipped=len(frame) - len(todo),
        model_name=served.name,
        model_version=served.version,
        seconds=time.perf_counter() - started,
        scoring_seconds=time.perf_counter() - scoring,
    )
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


def keep_sample(engine: Any, request: store.Request, X: pd.DataFrame, digest: str, rows: int) -> None:
    """The features of a fixed sample of the batch's rows, for monitoring (the same rows on every rerun)."""
    if rows <= 0 or X.empty:
        return
    rng = np.random.default_rng(int(digest[:8], 16))
    positions = np.sort(rng.choice(len(X), size=min(rows, len(X)), replace=False))
    sample = X.iloc[positions]
    records = sample.astype(object).where(sample.notna(), None).to_dict("records")
    store.keep_inputs(engine, request, dict(zip(positions.tolist(), records, strict=True)))


def as_dict(result: BatchResult) -> dict:
    return asdict(result) | {
        "rows_per_second": round(result.rows_per_second, 1),
        "scoring_rows_per_second": round(result.scoring_rows_per_second, 1),
    }
