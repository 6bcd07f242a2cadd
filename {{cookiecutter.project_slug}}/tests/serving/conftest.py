"""Fixtures for the serving tests: the trained project's champion in a BentoML store of the test session, and a
real ``bentoml serve`` process on a free loopback port writing to its own serving-layer database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from {{ cookiecutter.package_name }} import config

from ..conftest import inside

PACKAGE = config.__name__.rpartition(".")[0]


def session_bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One BentoML store for the whole session (BentoML reads BENTOML_HOME once per process)."""
    home = tmp_path_factory.getbasetemp() / "bentoml-home"
    home.mkdir(exist_ok=True)
    os.environ["BENTOML_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_bentoml_home(tmp_path_factory)


@pytest.fixture(scope="session")
def champion(trained_project: Path, bentoml_home: Path):
    """The trained project's champion, imported into the session's BentoML store."""
    from {{ cookiecutter.package_name }} import serving

    with inside(trained_project):
        return serving.import_champion(config.load("params.yaml"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    db_url: str
    process: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 60) -> int:
        """A clean shutdown (SIGTERM, as `make serve` gets from Ctrl+C or a supervisor)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    project: Path, bentoml_home: Path, workdir: Path, timeout: float = 180, follow_champion: float = 0
) -> Server:
    """`bentoml serve` of the project's service on a free 127.0.0.1 port; returns once /readyz answers 200."""
    port = free_port()
    db_url = f"sqlite:///{workdir / 'serving.db'}"
    env = os.environ | {
        "SERVING_FOLLOW_CHAMPION": str(follow_champion),
        "BENTOML_HOME": str(bentoml_home),
        "SERVING_DB_URL": db_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = workdir / "server.log"
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        f"{PACKAGE}.serving.service:Predictor",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as stream:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=stream, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", db_url, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bentoml serve exited {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    pytest.fail(f"bentoml serve not ready after {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def server(trained_project: Path, champion, bentoml_home: Path, tmp_path_factory) -> Iterator[Server]:
    """One running service for the session's HTTP tests."""
    running = start_server(trained_project, bentoml_home, tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def feature_rows(trained_project: Path, champion) -> list[dict]:
    """Holdout rows with only the served model's features, as JSON-ready records (missing values as null)."""
    import pandas as pd

    from {{ cookiecutter.package_name }} import serving

    names = serving.stored_schema(champion).names
    frame = pd.read_parquet(trained_project / "data" / "processed" / "test.parquet")[names]
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]
