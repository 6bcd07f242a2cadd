"""The tracking server fails while `train` runs: a real `mlflow server` killed, or frozen (SIGSTOP), mid-run.

The stage ends in one line naming the stage and the server, no traceback; its run is not left RUNNING (marked
FAILED at once, or by the next train on this host when the server could not be told); a rerun trains normally.
MLFLOW_HTTP_REQUEST_TIMEOUT is 2 s here to keep the frozen case short (the project's defaults, and how long they
take, are measured by benchmarks/outages.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }}.core import config

from ..helpers import PACKAGE, free_port, run_pipeline

pytestmark = pytest.mark.slow  # a real mlflow server and training subprocesses


class Tracking:
    """`mlflow server` on a SQLite store in ``root``, in its own process group (killed, frozen, started again)."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.root / 'db'}"]
        command += ["--artifacts-destination", str(self.root / "artifacts"), "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", "1"]
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"mlflow server did not start:\n{(self.root / 'server.log').read_text()[-3000:]}")

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, number)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.process.wait(30)

    def runs(self, status: str) -> list[str]:
        client = MlflowClient(self.uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        return [r.info.run_id for r in client.search_runs(experiments, f"attributes.status = '{status}'")]


@pytest.fixture
def prepared(tmp_project: Path) -> Path:
    run_pipeline(config.load("params.yaml"), until="prepare")
    return tmp_project


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Tracking]:
    (tmp_path / "tracking").mkdir()
    running = Tracking(tmp_path / "tracking")
    running.start()
    yield running
    running.stop()


def train(project: Path, uri: str, *, outage: bool = True) -> subprocess.Popen:
    """`train` as a subprocess; during an outage with a 2 s request timeout, after it with the project's own."""
    env = os.environ | {"MLFLOW_TRACKING_URI": uri}
    if outage:
        env["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "2"
    command = [sys.executable, "-m", PACKAGE, "train"]
    return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("outage", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_tracking_outage_mid_run_fails_the_stage_in_one_line_and_leaves_no_run_running(
    prepared: Path, server: Tracking, outage: signal.Signals
) -> None:
    # given train running against the server, its parent run started
    job = train(prepared, server.uri)
    deadline = time.monotonic() + 180
    while not server.runs("RUNNING"):
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1][-3000:]
        time.sleep(0.2)
    # when the server dies (or freezes) mid-run
    server.signal(outage)
    failed = time.monotonic()
    _, stderr = job.communicate(timeout=300)
    took = time.monotonic() - failed
    # then train exits 1 with one line naming the stage and the server, and no traceback
    assert job.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: stage train: the MLflow tracking server {server.uri} "), last
    assert "could not be marked FAILED now" in last or "is marked FAILED" in last, last
    assert took < 60, f"the stage took {took:.0f}s to give up"
    # and once the server is back, the next train marks the orphan FAILED and trains normally
    server.stop()
    server.start()
    rerun = train(prepared, server.uri, outage=False)
    _, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr[-3000:]
    assert not server.runs("RUNNING")
    assert server.runs("FAILED")
