"""Service replicas: two `bentoml serve` processes of the project on two ports, one PostgreSQL serving layer.

Under load on both, every acknowledged prediction is stored exactly once, with the version that answered it; a
champion moved in the registry during the load is picked up by every replica. Skipped only without PostgreSQL's
server binaries (like test_postgres.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.predictions import database

from ..helpers import PACKAGE, Server, free_port, inside

pytestmark = pytest.mark.slow
REQUESTS_PER_CLIENT = 40
CLIENTS_PER_REPLICA = 4


def start_replica(project: Path, home: Path, db_url: str, log: Path) -> Server:
    """`bentoml serve` on a free port, one worker, following the champion every half second."""
    port = free_port()
    env = os.environ | {
        "BENTOML_HOME": str(home),
        "SERVING_DB_URL": db_url,
        "SERVING_FOLLOW_CHAMPION": "0.5",
        "SERVING_WORKERS": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    command = [sys.executable, "-m", "bentoml", "serve", f"{PACKAGE}.serving.service:Predictor"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as stream:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=stream, stderr=subprocess.STDOUT)
    return Server(f"http://127.0.0.1:{port}", db_url, process, log)


def wait_ready(server: Server, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"a replica exited {server.process.returncode}:\n{server.log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"a replica was not ready after {timeout}s:\n{server.log.read_text()[-4000:]}")


def test_replicas_store_every_acknowledged_prediction_once_and_all_follow_a_new_champion(
    trained_project,
    champion,
    feature_rows,
    postgres_url,
    tmp_path,
) -> None:
    # given two replicas of one project (one registry, one BentoML store) writing one PostgreSQL serving layer
    import mlflow

    project, home = tmp_path / "project", tmp_path / "bentoml"
    shutil.copytree(trained_project, project)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    env = os.environ | {"BENTOML_HOME": str(home), "MLFLOW_TRACKING_URI": uri}
    subprocess.run(
        [sys.executable, "-m", PACKAGE, "import-model"], cwd=project, env=env, check=True, capture_output=True
    )
    engine = database.connect(postgres_url)
    with engine.begin() as connection:
        connection.execute(database.predictions.delete())
        connection.execute(database.requests.delete())
    replicas = [start_replica(project, home, postgres_url, tmp_path / f"replica-{i}.log") for i in range(2)]
    acknowledged: list[tuple[str, str]] = []  # (request id, version that answered)
    failures: list[str] = []
    lock = threading.Lock()
    try:
        for replica in replicas:
            wait_ready(replica)
        with inside(project):
            client = mlflow.MlflowClient(uri, uri)
            name = config.load("params.yaml").tracking.model_name
            current = client.get_model_version_by_alias(name, "champion")
            assert current.source is not None

        def load(url: str, offset: int) -> None:
            with httpx.Client(timeout=120) as http:
                for i in range(REQUESTS_PER_CLIENT):
                    record = feature_rows[(offset + i) % len(feature_rows)]
                    try:
                        response = http.post(f"{url}/predict", json={"records": [record]})
                    except httpx.HTTPError as error:
                        with lock:
                            failures.append(repr(error))
                        continue
                    if response.status_code != 200:
                        with lock:
                            failures.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    answer = response.json()[0]
                    with lock:
                        acknowledged.append((answer["request_id"], answer["model_version"]))

        # when both take load from several clients, and the champion moves while they do
        clients = [
            threading.Thread(target=load, args=(replica.url, n * 7))
            for replica in replicas
            for n in range(CLIENTS_PER_REPLICA)
        ]
        for thread in clients:
            thread.start()
        with inside(project):
            # (from the same logged model, with the tags register writes: its manifests, schema, ONNX outcome)
            new = client.create_model_version(name, current.source, run_id=current.run_id, tags=current.tags)
            client.set_registered_model_alias(name, "champion", new.version)
        for thread in clients:
            thread.join()
        # then every replica answers with the new champion within seconds
        seen = {}
        deadline = time.monotonic() + 120
        for replica in replicas:
            while time.monotonic() < deadline:
                answer = httpx.post(f"{replica.url}/predict", json={"records": feature_rows[:1]}, timeout=60).json()[0]
                acknowledged.append((answer["request_id"], answer["model_version"]))
                seen[replica.url] = answer["model_version"]
                if seen[replica.url] == str(new.version):
                    break
                time.sleep(0.2)
    finally:
        codes = [replica.stop() for replica in replicas]  # a clean stop flushes what each replica queued
    assert failures == []
    assert set(seen.values()) == {str(new.version)}, [r.log.read_text()[-2000:] for r in replicas]
    assert codes == [0, 0]
    # and the serving layer holds each acknowledged request once, with the version that answered it
    query = select(database.scored.c.request_id, database.scored.c.model_version).where(
        database.scored.c.source == database.ONLINE
    )
    with engine.connect() as connection:
        stored = [tuple(row) for row in connection.execute(query)]
    assert len(acknowledged) >= 2 * CLIENTS_PER_REPLICA * REQUESTS_PER_CLIENT
    assert [key for key, n in Counter(stored).items() if n > 1] == []
    assert Counter(stored) == Counter(acknowledged)
    versions = {version for _, version in acknowledged}
    assert str(new.version) in versions
