"""Batch scoring on Spark: ``python -m <package> batch --engine spark [--spark-master URL]`` (``make batch ENGINE=spark``).

The same job as batch.py, with the scoring and the writing spread over a Spark cluster (``local[*]`` by default,
``spark://...``, ``yarn`` or ``k8s://...`` elsewhere; deploy/k8s/spark-batch.yaml):

- The driver does what must happen once: the schema check of the whole file (batch.scan, streaming, before any row
  is written), the batch's `requests` row, and the champion, loaded once and broadcast to the executors.
- Each row keeps its position in the file (Parquet: Spark's ``_metadata.row_index``; CSV: ``zipWithIndex`` over the
  file's splits, which Spark reads in order), the rows are cut into contiguous ranges (``repartitionByRange``), and
  every executor scores its range with ``mapInPandas`` through the very code the service and the in-process job use
  (features.conform, ServedModel.predict): the predictions are identical to the in-process path, row for row.
- Exactly once: each Arrow batch of a partition is written in one transaction of the project's store, after asking
  which of its positions are there already. A task retried by Spark, or the whole job killed and run again, skips
  what was written; two attempts of a task racing on the same rows meet the primary key, and the loser re-reads and
  writes only what is still missing.

Why not ``mlflow.pyfunc.spark_udf``: it predicts through the pyfunc flavour (its own input coercion, ``predict`` of
the estimator), which is not byte-for-byte the path the service answers with; and it needs the registry reachable
from every executor. Broadcasting the ServedModel keeps one scoring path for the hot path, the cold path and Spark.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.config import Config
from ..core.errors import UserError
from ..data import tables
from ..predictions import database, queries, store
from . import batch
from .model import ServedModel

log = logging.getLogger(__name__)
POSITION = "_position"
DEFAULT_MASTER = "local[*]"


def require_spark() -> None:
    """Before anything is read or written: pyspark importable and Java on PATH, or one line naming what to do."""
    import importlib.util
    import shutil

    java = shutil.which("java") or (Path(os.environ.get("JAVA_HOME", "/nonexistent")) / "bin" / "java").exists()
    missing = [] if importlib.util.find_spec("pyspark") else ["pyspark: run `make setup-spark` (the `spark` extra)"]
    if not java:
        missing.append("Java 17 on PATH (Debian: apt-get install openjdk-17-jre-headless)")
    if missing:
        raise UserError(f"--engine spark needs {' and '.join(missing)}; or run `make batch` without ENGINE=spark")


def session(master: str, app_name: str = "batch") -> Any:
    """A Spark session on ``master``, quiet and offline (no UI), with Arrow for the pandas exchange. Executors run
    this interpreter (PYSPARK_PYTHON), so they import the same package and libraries."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise UserError("--engine spark needs pyspark: make setup-spark (the `spark` extra) and Java 17") from error
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .config("spark.sql.session.timeZone", "UTC")
    )
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # no Java, or the master cannot be reached: one line, not a JVM stack
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"Spark could not start on {master!r} (Java 17 on PATH? master reachable?): {first}") from error
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read(spark: Any, path: Path, columns: list[str], numeric: list[str]) -> Any:
    """The input's ``columns`` plus each row's position in the file, numeric features as doubles."""
    from pyspark.sql import functions as F

    if tables.kind(path) == ".parquet":
        return spark.read.parquet(str(path)).select(*columns, F.col("_metadata.row_index").alias(POSITION))
    raw = spark.read.option("header", True).option("inferSchema", False).csv(str(path)).select(*columns)
    # the in-process reader's missing-value tokens (NA, N/A, null ...), so both engines read a file the same way
    missing = [F.when(F.col(c).isin(*tables.NULL_VALUES), F.lit(None)).otherwise(F.col(c)) for c in columns]
    typed = raw.select(
        *[(m.cast("double") if c in numeric else m).alias(c) for c, m in zip(columns, missing, strict=True)]
    )
    indexed = typed.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1]))
    return spark.createDataFrame(indexed, typed.schema.add(POSITION, "long"))


_ENGINES: dict[str, Any] = {}


def _engine(url: str) -> Any:
    """One engine per executor process and database. The driver created the tables; SQLite still gets its
    WAL and busy timeout from database.connect, so several executors can write one file."""
    if url not in _ENGINES:
        if url.startswith("sqlite"):
            _ENGINES[url] = database.connect(url)
        else:
            from sqlalchemy import create_engine

            _ENGINES[url] = create_engine(url, pool_pre_ping=True, pool_size=1)
    return _ENGINES[url]


def write_partition(
    batches: Iterator[pd.DataFrame],
    served: ServedModel,
    request: database.Request,
    url: str,
    key_column: str | None,
) -> Iterator[pd.DataFrame]:
    """Score and write one partition, one transaction per Arrow batch, skipping positions already written."""
    engine = _engine(url)  # the driver's URL: a reused worker may have started for another job
    for frame in batches:
        if frame.empty:
            continue
        frame = frame.sort_values(POSITION)
        positions = frame[POSITION].to_numpy(dtype=np.int64)
        for attempt in range(3):
            done = batch.written_between(engine, request, int(positions[0]), int(positions[-1]) + 1)
            todo = ~np.isin(positions, done) if len(done) else np.ones(len(frame), dtype=bool)
            rows = frame[todo]
            if rows.empty:
                break
            labels, probabilities = served.predict(serving_frame(rows, served))
            keys = None if key_column is None else rows[key_column].astype(str).tolist()
            by_class = batch.class_probabilities(served, probabilities)
            try:
                store.insert_scored(engine, request, positions[todo], labels.tolist(), keys, probabilities=by_class)
                break
            except store.DuplicateRows:  # another attempt of this task wrote some of them meanwhile: read again
                if attempt == 2:
                    raise
        yield pd.DataFrame({"written": [int(todo.sum())], "skipped": [int(len(frame) - todo.sum())]})


def serving_frame(rows: pd.DataFrame, served: ServedModel) -> pd.DataFrame:
    from ..training import features

    indexed = rows.set_index(POSITION)
    return features.conform(indexed, served.schema)


def run(
    cfg: Config,
    input_path: Path | str,
    *,
    batch_id: str | None = None,
    key_column: str | None = None,
    master: str = DEFAULT_MASTER,
    partitions: int | None = None,
    chunk_rows: int = batch.CHUNK_ROWS,
) -> batch.BatchResult:
    require_spark()
    started = time.perf_counter()
    job = batch.open_job(cfg, Path(input_path).absolute(), batch_id, key_column, chunk_rows)
    path, served, columns, rows = job.path, job.served, job.columns, job.rows
    batch_id, engine, request, already = job.batch_id, job.engine, job.request, job.already
    url = cfg.serving.resolved_db_url
    scoring = time.perf_counter()
    written = skipped = 0
    if already < rows:
        from pyspark.sql import functions as F

        spark = session(master, app_name=f"batch {batch_id}")
        frame = read(spark, path, columns, served.schema.of_kind("numeric"))
        count = partitions or max(2, spark.sparkContext.defaultParallelism * 2)
        shared = spark.sparkContext.broadcast(served)

        def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return write_partition(batches, shared.value, request, url, key_column)

        totals = (
            frame.repartitionByRange(count, POSITION)
            .mapInPandas(score, schema="written long, skipped long")
            .agg(F.sum("written").alias("written"), F.sum("skipped").alias("skipped"))
            .collect()[0]
        )
        written, skipped = int(totals["written"] or 0), int(totals["skipped"] or 0)
    else:
        skipped = rows
    stored = queries.count(engine, database.BATCH, batch_id)
    if stored != rows:
        raise UserError(
            f"batch {batch_id!r}: {stored} row(s) in the serving layer for {rows} input row(s); run it again"
        )
    result = job.result(written, skipped, started, scoring)
    log.info(
        "batch %s on Spark %s: %d row(s) scored by %s v%s (%d already there) in %.1fs",
        batch_id,
        master,
        written,
        served.name,
        served.version,
        skipped,
        result.seconds,
    )
    return result
