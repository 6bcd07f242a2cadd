"""The `champion` alias read without MLflow (tracking/aliases.py) agrees with MLflow's own client, on a SQLite registry
and through a real tracking server's REST API; and a batch job whose champion is in the BentoML store already imports
neither MLflow nor BentoML."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.tracking import aliases, registry

from ..helpers import PACKAGE, PATHS, free_port

pytestmark = pytest.mark.slow  # a real MLflow registry (and server)

NAME = "churn model"


def registry_with_two_versions(uri: str) -> MlflowClient:
    client = MlflowClient(uri, uri)
    run = client.create_run("0")  # the default experiment: each version's source lies in this run's artifacts
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return client


def agrees(client: MlflowClient, uri: str, expected: str | None) -> None:
    found = aliases.version(uri, NAME, tracking.CHAMPION)
    by_mlflow = registry.version_by_alias(client, NAME, tracking.CHAMPION)
    assert found == (None if by_mlflow is None else str(by_mlflow.version)) == expected


def test_the_sqlite_lookup_follows_the_alias_like_mlflow(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = registry_with_two_versions(uri)
    agrees(client, uri, None)  # no champion yet
    client.set_registered_model_alias(NAME, tracking.CHAMPION, "1")
    agrees(client, uri, "1")
    client.set_registered_model_alias(NAME, tracking.CHAMPION, "2")  # promotion
    agrees(client, uri, "2")
    client.set_registered_model_alias(NAME, tracking.CHAMPION, "1")  # rollback
    agrees(client, uri, "1")
    assert aliases.version(uri, "another model", tracking.CHAMPION) is None
    assert aliases.version(f"sqlite:///{tmp_path / 'none.db'}", NAME, tracking.CHAMPION) is None


def test_what_it_cannot_read_is_left_to_mlflow(tmp_path: Path) -> None:
    (tmp_path / "other.db").write_bytes(b"")  # a SQLite file without MLflow's tables
    for uri in (f"sqlite:///{tmp_path / 'other.db'}", str(tmp_path / "mlruns"), "databricks", "sqlite://"):
        with pytest.raises(aliases.Unsupported):
            aliases.version(uri, NAME, tracking.CHAMPION)


def test_the_rest_lookup_follows_the_alias_like_mlflow(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                alive = server.poll() is None and time.monotonic() < deadline
                assert alive, server.stderr and server.stderr.read()[-2000:]
                time.sleep(0.5)
        client = registry_with_two_versions(uri)
        agrees(client, uri, None)
        client.set_registered_model_alias(NAME, tracking.CHAMPION, "2")
        agrees(client, uri, "2")
        client.set_registered_model_alias(NAME, tracking.CHAMPION, "1")
        agrees(client, uri, "1")
    finally:  # the server's workers are its children: stop the whole group
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)


def test_a_batch_with_the_champion_in_the_store_never_imports_mlflow_or_bentoml(
    champion, trained_project: Path, bentoml_home: Path, tmp_path: Path
) -> None:
    # given the champion in the BentoML store already (the champion fixture imported it)
    small = tmp_path / "rows.parquet"
    pd.read_parquet(trained_project / PATHS.holdout).head(5).to_parquet(small)
    code = (
        "import sys\n"
        f"from {PACKAGE}.__main__ import main\n"
        f"code = main(['batch', '--input', {str(small)!r}])\n"
        "print('imported:', *(m for m in ('mlflow', 'bentoml') if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = os.environ | {
        "BENTOML_HOME": str(bentoml_home),
        "SERVING_DB_URL": f"sqlite:///{tmp_path / 'serving.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{trained_project / 'mlflow.db'}",
    }
    # when a batch job scores a file
    done = subprocess.run([sys.executable, "-c", code], cwd=trained_project, env=env, capture_output=True, text=True)
    # then it scored with that champion, and neither MLflow nor BentoML was imported (the store read as a folder)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["rows"], result["written"]) == (5, 5)
    assert result["model_version"] == champion.info.metadata["registered_version"]
    assert done.stderr.strip().splitlines()[-1] == "imported:", done.stderr[-3000:]
