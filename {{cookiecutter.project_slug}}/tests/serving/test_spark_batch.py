"""Batch on Spark (`batch --engine spark`), on a real local Spark (`local[2]`): the same predictions as the
in-process path for every row, and exactly one row per input row after a job killed mid-way is run again.

Needs the `spark` extra (make setup-spark) and Java 17; skipped without them (the template's tests install both).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }} import __main__ as cli
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.predictions import database, queries
from {{ cookiecutter.package_name }}.serving import batch, spark_batch

pytest.importorskip("pyspark", reason="the spark extra is not installed (make setup-spark)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17 on PATH"),
]
MASTER = "local[2]"


@pytest.fixture
def scoring(in_trained: Path, bentoml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    db_url = f"sqlite:///{tmp_path / 'serving.db'}"
    monkeypatch.setenv("SERVING_DB_URL", db_url)
    return config.load("params.yaml"), database.connect(db_url)


def holdout(rows: int, path: Path) -> Path:
    frame = pd.read_parquet("data/processed/test.parquet")
    repeated = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).iloc[:rows]
    repeated.to_parquet(path) if path.suffix == ".parquet" else repeated.to_csv(path, index=False)
    return path


def predictions(engine, batch_id: str) -> list:
    query = (
        select(
            database.scored.c.row_index,
            database.scored.c.row_key,
            database.scored.c.prediction,
            database.scored.c.probabilities,
        )
        .where(database.scored.c.request_id == batch_id)
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_spark_stores_the_in_process_predictions_for_every_row(scoring, tmp_path, suffix) -> None:
    # given one file scored by both engines
    cfg, engine = scoring
    path = holdout(5000, tmp_path / f"input{suffix}")
    local = batch.run(cfg, path, batch_id="in-process", progress=False)
    # when Spark scores it on four partitions
    spark = spark_batch.run(cfg, path, batch_id="spark", master=MASTER, partitions=4)
    # then every row has the same position, key, prediction (the tuned threshold applied) and class probabilities
    # (classification) as the in-process job's
    assert (spark.rows, spark.written, spark.skipped) == (local.rows, local.rows, 0)
    assert predictions(engine, "spark") == predictions(engine, "in-process")
    assert len(predictions(engine, "spark")) == 5000
    classified = config.load("params.yaml").task == "classification"
    assert all((row[3] is not None) == classified for row in predictions(engine, "spark"))


def test_missing_value_tokens_in_a_csv_read_as_missing_by_both_engines(scoring, tmp_path) -> None:
    # given a CSV whose numeric column spells missing values as NA, N/A and null, as exported tables do
    cfg, engine = scoring
    path = holdout(300, tmp_path / "gaps.csv")
    lines = path.read_text().splitlines()
    column = 0  # the first feature
    for row, token in zip(range(1, 300, 7), ["NA", "N/A", "null"] * 100, strict=False):
        cells = lines[row].split(",")
        cells[column] = token
        lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    # when both engines score it
    batch.run(cfg, path, batch_id="gaps-local", progress=False)
    spark_batch.run(cfg, path, batch_id="gaps-spark", master=MASTER, partitions=2)
    # then Spark reads the tokens as missing, like the in-process reader: the same prediction for every row
    assert predictions(engine, "gaps-spark") == predictions(engine, "gaps-local")
    assert len(predictions(engine, "gaps-spark")) == 300


def test_a_spark_rerun_writes_nothing_twice(scoring, tmp_path) -> None:
    cfg, engine = scoring
    path = holdout(3000, tmp_path / "again.parquet")
    first = spark_batch.run(cfg, path, batch_id="twice", master=MASTER, partitions=3)
    again = spark_batch.run(cfg, path, batch_id="twice", master=MASTER, partitions=3)
    assert (first.written, again.written, again.skipped) == (3000, 0, 3000)
    assert queries.count(engine, database.BATCH, "twice") == 3000


def kill_tree(pid: int) -> list[psutil.Process]:
    """SIGKILL a process and all its descendants, frozen first so that none can fork a new one meanwhile."""
    frozen: dict[int, psutil.Process] = {}
    while True:
        try:
            root = psutil.Process(pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:  # it ended (and was reaped) before the kill
            break
        new = [p for p in found if p.pid not in frozen]
        if not new:
            break
        for process in new:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGSTOP)
            frozen[process.pid] = process
    for process in frozen.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    return list(frozen.values())


def test_a_spark_job_killed_mid_way_then_run_again_has_one_row_per_input_row(scoring, tmp_path) -> None:
    # given a Spark job on many partitions, killed with SIGKILL (driver, JVM and Python workers) once rows are in
    cfg, engine = scoring
    rows = 200_000
    path = holdout(rows, tmp_path / "big.parquet")
    command = [sys.executable, "-m", cli.__package__, "batch", "--input", str(path), "--batch-id", "killed"]
    command += ["--engine", "spark", "--spark-master", MASTER, "--spark-partitions", "40"]
    job = subprocess.Popen(
        command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while queries.count(engine, database.BATCH, "killed") == 0 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # the whole process tree, as a container runtime kills it: PySpark's worker daemon leaves the job's process
    # group (os.setpgid), so killpg alone would leave workers that commit after the count below. Frozen first
    # (SIGSTOP) until no new process appears, so nothing forks between listing the tree and killing it.
    tree = kill_tree(job.pid)
    psutil.wait_procs(tree, timeout=60)
    job.wait()
    written = queries.count(engine, database.BATCH, "killed")
    assert 0 < written < rows, (
        f"not killed mid-way ({written} of {rows}): {job.stderr.read()[-2000:] if job.stderr else b''!r}"
    )
    # when it runs again
    result = spark_batch.run(cfg, path, batch_id="killed", master=MASTER, partitions=8)
    # then every input row has exactly one row, and the rerun wrote only what was missing
    assert (result.skipped, result.written) == (written, rows - written)
    assert queries.count(engine, database.BATCH, "killed") == rows
    positions = [row[0] for row in predictions(engine, "killed")]
    assert positions == list(range(rows))
