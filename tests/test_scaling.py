"""Batch on Spark in the default project: `make setup-spark` adds the locked `spark` extra, the project's own Spark
tests run on a real `local[2]` (identical predictions to the in-process path; a job killed mid-way and run again
has one row per input row) and are not skipped, and `make batch ENGINE=spark` scores the holdout into the
serving layer. Needs Java 17 (.ci/run installs Debian's openjdk-17-jre-headless)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import project_env, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17 (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def spark_project(default_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # before its extra: one line naming `make setup-spark` (and the Java it needs), no traceback, nothing written
    db = tmp_path_factory.mktemp("no-spark") / "serving.db"
    env = project_env(default_project) | {"SERVING_DB_URL": f"sqlite:///{db}"}
    done = run(["make", "batch", "ENGINE=spark"], default_project, env=env, check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0 and len(errors) == 1 and "make setup-spark" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr and not db.exists()
    run(["make", "setup-spark"], default_project, timeout=900)
    return default_project


def test_the_projects_spark_tests_run_on_local_spark_and_pass(spark_project: Path) -> None:
    done = run(
        [".venv/bin/pytest", "tests/serving/test_spark_batch.py", "-q", "-rs", "-p", "no:cacheprovider"],
        spark_project,
        check=False,
        timeout=1800,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0 and "skipped" not in summary and "passed" in summary, done.stdout[-5000:]


def test_make_batch_engine_spark_scores_the_holdout_into_the_serving_layer(spark_project: Path, tmp_path) -> None:
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
