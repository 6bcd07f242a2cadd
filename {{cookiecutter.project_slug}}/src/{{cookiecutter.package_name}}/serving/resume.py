"""A batch job on its engine, and what it says when the serving layer stays down through its retries: one line
naming the database (its URL without the password), the error, and the command that resumes the job (the rows
already written are kept and skipped by the rerun, predictions/store.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..core.config import Config
from ..core.errors import UserError
from ..predictions import database
from . import batch


class DatabaseUnreachable(UserError):
    """The serving layer stayed unreachable through the retries: the rows written so far are kept."""


def unreachable(url: str, error: BaseException, rerun: str, retry_s: float) -> DatabaseUnreachable:
    """One line: which database, what failed, that nothing written is lost, and the command that resumes."""
    return DatabaseUnreachable(
        f"the serving layer {database.redacted(url)} failed ({database.describe(error)}) "
        f"through {retry_s:g} s of retries; the rows written so far are kept: rerun `{rerun}` to resume"
    )


def rerun_command(input_path: Path | str, batch_id: str | None, key_column: str | None, engine: str) -> str:
    """The command that resumes this job (same input, same batch id: the rows already written are skipped)."""
    package = __package__.split(".")[0]
    parts = ["python", "-m", package, "batch", "--input", str(input_path)]
    parts += ["--batch-id", batch_id] if batch_id else []
    parts += ["--key-column", key_column] if key_column else []
    parts += ["--engine", engine] if engine != "in-process" else []
    return shlex.join(parts)


def run(
    cfg: Config,
    input_path: Path | str,
    *,
    engine: str,
    batch_id: str | None,
    key_column: str | None,
    chunk_rows: int,
    retry_s: float,
    spark_master: str,
    spark_partitions: int | None,
) -> batch.BatchResult:
    """Score input_path in-process or on Spark; a database down through the retries is one line (unreachable)."""
    try:
        if engine == "spark":
            from . import spark_batch

            return spark_batch.run(
                cfg,
                input_path,
                batch_id=batch_id,
                key_column=key_column,
                master=spark_master,
                partitions=spark_partitions,
                chunk_rows=chunk_rows,
            )
        return batch.run(
            cfg, input_path, batch_id=batch_id, key_column=key_column, chunk_rows=chunk_rows, retry_s=retry_s
        )
    except Exception as error:
        if not database.transient(error):
            raise
        rerun = rerun_command(input_path, batch_id, key_column, engine)
        raise unreachable(cfg.serving.resolved_db_url, error, rerun, retry_s) from None
