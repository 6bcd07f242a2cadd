"""Batch scoring (cold path): a CSV or Parquet table, scored with the champion in chunks, into the serving layer.

``python -m <package> batch --input FILE [--batch-id ID] [--key-column COLUMN]`` (``make batch``).
One row per input row goes to the `predictions` table: source "batch", the batch id, the row key (the key
column's value, or the row's position in the file), the model version and the prediction.

- Schema first: the whole input is checked against the champion's features before anything is written; a
  missing column or a value that is not a number where the model needs one stops the job, naming the column.
- Idempotent and crash-safe: each chunk is written in one transaction, and a rerun with the same batch id
  (the default is derived from the file's name and content) skips the rows already written. Kill it at
  any point and run it again: exactly one row per input row, none lost, none duplicated.
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
CHUNK_ROWS = 50_000


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


def default_batch_id(path: Path) -> str:
    """Same file, same id: a rerun continues the interrupted job instead of starting another one."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"{path.stem}-{digest.hexdigest()[:12]}"


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


def row_keys(frame: pd.DataFrame, key_column: str | None) -> pd.Series:
    if key_column is None:
        return pd.Series(np.arange(len(frame)).astype(str), index=frame.index)
    if key_column not in frame.columns:
        raise UserError(f"key column {key_column!r} is not in the input")
    keys = frame[key_column]
    if keys.isna().any() or keys.duplicated().any():
        raise UserError(f"key column {key_column!r} must be unique and never empty")
    return keys.astype(str)


class ChunkWriter:
    """Writes scored chunks on a second thread while the next chunk is scored; one transaction per chunk, so
    a crash loses at most the chunks in flight (and a rerun writes them). Errors surface in the caller."""

    def __init__(self, engine: Any, batch_id: str, served: serving.ServedModel, depth: int = 2) -> None:
        self.engine, self.batch_id, self.served = engine, batch_id, served
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)

    def __enter__(self) -> ChunkWriter:
        self._thread.start()
        return self

    def put(self, keys: list[str], labels: list[Any], done: Any) -> None:
        self._raise()
        self._queue.put((keys, labels, done))

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
            keys, labels, done = item
            try:
                store.insert_scored(
                    self.engine,
                    self.batch_id,
                    keys,
                    labels,
                    model_name=self.served.name,
                    model_version=self.served.version,
                    created_at=store.now(),
                )
            except BaseException as error:  # reported by the next put() or at exit
                self._error = error
                continue
            done(len(keys))


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
    batch_id = batch_id or default_batch_id(path)

    engine = store.connect(cfg.serving.resolved_db_url)
    done = store.existing_keys(engine, store.BATCH, batch_id) if store.count(engine, store.BATCH, batch_id) else set()
    todo = np.flatnonzero(~keys.isin(done).to_numpy()) if done else np.arange(len(frame))
    if done:
        log.info(
            "batch %s: %d of %d row(s) already written, scoring the other %d",
            batch_id,
            len(frame) - len(todo),
            len(frame),
            len(todo),
        )
    scoring = time.perf_counter()
    bar = tqdm(total=len(todo), unit="row", unit_scale=True, desc=f"batch {batch_id}", disable=not progress)
    with bar, ChunkWriter(engine, batch_id, served) as writer:
        for begin in range(0, len(todo), chunk_rows):
            positions = todo[begin : begin + chunk_rows]
            labels, _ = served.predict(X.iloc[positions])
            writer.put(keys.iloc[positions].tolist(), labels.tolist(), bar.update)
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


def as_dict(result: BatchResult) -> dict:
    return asdict(result) | {
        "rows_per_second": round(result.rows_per_second, 1),
        "scoring_rows_per_second": round(result.scoring_rows_per_second, 1),
    }
