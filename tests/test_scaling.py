"""Batch on Spark in the default project: `make setup-spark` adds the locked `spark` extra, the project's own Spark
tests run on a real `local[2]` (identical predictions to the in-process path; a job killed mid-way and run again
has one row per input row) and are not skipped, and `make batch ENGINE=spark` scores the holdout into the
serving layer. Needs Java 17 (.ci/run installs Debian's openjdk-17-jre-headless)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .projects import project_env, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17 (.ci/run installs it)"),
]


def test_the_projects_spark_tests_run_on_local_spark_and_pass(spark_project: Path) -> None:
    done = run(
        [".venv/bin/pytest", "tests/serving/test_spark_batch.py", "-q", "-rs", "-p", "no:cacheprovider"],
        spark_project,
        check=False,
        timeout=1800,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0 and "skipped" not in summary and "passed" in summary, done.stdout[-5000:]


def test_make_batch_engine_spark_scores_the_holdout_into_the_serving_layer(spark_project: Path, tmp_path: Path) -> None:
    env = project_env(spark_project) | {"SERVING_DB_URL": f"sqlite:///{tmp_path / 'serving.db'}"}
    done = run(["make", "batch", "ENGINE=spark", "SPARK_MASTER=local[2]"], spark_project, env=env, timeout=900)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    holdout = json.loads(
        run(
            [
                ".venv/bin/python",
                "-c",
                "import pandas as pd; print(len(pd.read_parquet('data/processed/test.parquet')))",
            ],
            spark_project,
        ).stdout
    )
    assert (result["rows"], result["written"], result["skipped"]) == (holdout, holdout, 0)
    again = json.loads(
        run(["make", "batch", "ENGINE=spark"], spark_project, env=env, timeout=900).stdout.splitlines()[-1]
    )
    assert (again["written"], again["skipped"]) == (0, holdout)  # a rerun resumes: nothing twice
