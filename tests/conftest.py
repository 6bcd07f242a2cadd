"""Shared fixtures for the template's tests: bake projects, run commands in them, one set-up default project.

Fast tests only render. Tests marked ``slow`` install a project's locked environment (uv, cached after the
first time) and run real DVC, MLflow and Great Expectations.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: installs a baked project and runs it end to end")


def bake(output_dir: Path, **answers: str) -> Path:
    """Render the template with ``answers`` over the defaults; returns the project folder."""
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


def project_env(project: Path) -> dict[str, str]:
    """The environment `make` gives the project's commands: its .venv first on PATH, telemetry off."""
    # As a user's shell has it: no venv, tracking URI or path of ours, and not inside our `make test` (a nested make
    # would print "make[2]: Entering/Leaving directory" around every command's output)
    outer = ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH", "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    env["PATH"] = f"{project / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    return env | QUIET_ENV


def run(
    command: Sequence[str], cwd: Path, *, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``; on an unexpected exit, fail with the output's tail."""
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=env or project_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
        )
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, object]:
    """POST ``body``; the status and the decoded JSON answer (also of a 4xx)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def serving(
    command: Sequence[str],
    cwd: Path,
    ready_url: str,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
    timeout: float = 240,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server command (its own process group) once it answers ``ready_url`` with 200; stopped with ``stop`` sent
    to the whole group afterwards (SIGINT is Ctrl+C in a terminal), then SIGKILL if it has not exited in 120 s."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env or project_env(cwd), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{' '.join(command)} exited {process.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{' '.join(command)} did not answer {ready_url} in {timeout}s:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (OSError, http.client.HTTPException):  # not listening yet, or not speaking HTTP yet
                pass
            time.sleep(0.5)
        yield process
    finally:
        with suppress(ProcessLookupError):  # it may have exited on its own
            os.killpg(process.pid, stop)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def setup_project(project: Path) -> Path:
    run(["make", "setup"], project, timeout=1200)
    return project


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default answers, baked, set up and with `make pipeline` run once (shared by the slow tests)."""
    project = setup_project(bake(tmp_path_factory.mktemp("default")))
    run(["make", "pipeline"], project)
    return project
