"""What the tests share besides fixtures (those are in conftest.py): a throwaway copy of the project, the pipeline
run in-process, a real ``bentoml serve`` process on a free loopback port, and a throwaway PostgreSQL server.

The shipped table tests/fixtures/customers.csv has categorical text columns and missing values, and a target for
each task (`churned` for classification, `lifetime_spend` for regression), so every stage is exercised on the kind
of data real projects have.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
import yaml

from {{ cookiecutter.package_name }}.core import config

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TARGETS = {"classification": "churned", "regression": "lifetime_spend"}
PATHS = config.load(PROJECT / "params.yaml").paths  # the pipeline's files (params.yaml `paths:`), relative
PACKAGE = config.__name__.split(".")[0]


def small_params(task: str) -> dict[str, Any]:
    """The project's params.yaml pointed at the shipped table, with a quick two-trial search."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    target = TARGETS[task]
    other = TARGETS["regression" if task == "classification" else "classification"]
    params["ingest"] = {
        "source": "data/external/customers.csv",
        "target": target,
        "drop_columns": ["customer_id", other],
    }
    family = "logistic_regression" if task == "classification" else "ridge"
    params["train"]["cv_folds"] = 3
    params["train"]["search"] = {
        "strategy": "grid",
        "max_trials": 4,
        "max_seconds": 120,
        "candidates": [
            {"family": family, "params": {}},
            {"family": "hist_gradient_boosting", "params": {"max_depth": [3]}},
        ],
    }
    params["register"]["floor"] = 0.55 if task == "classification" else 0.1
    return params


def write_params(root: Path, params: dict[str, Any]) -> config.Config:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return config.load(root / "params.yaml")


def make_project(root: Path) -> None:
    """params.yaml, the committed gx/ files and the data layout, as in a fresh clone."""
    shutil.copytree(PROJECT / "gx", root / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    (root / "vendor").symlink_to(PROJECT / "vendor")  # the web assets Data Docs are made offline with
    (root / "data" / "external").mkdir(parents=True)
    shutil.copy(FIXTURES / "customers.csv", root / "data" / "external" / "customers.csv")
    task = config.load(PROJECT / "params.yaml").task
    write_params(root, small_params(task))


@contextmanager
def inside(root: Path) -> Iterator[None]:
    before, uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])  # MLflow also keeps the URI of the last configure()
    try:
        yield
    finally:
        os.chdir(before)
        if uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)  # type: ignore[arg-type]  # MLflow's hint omits it, but None resets to the environment or the default


def run_pipeline(cfg: config.Config, *, until: str = "register") -> None:
    """The stages in dvc.yaml order, in-process (drafting the GX suite from the data first)."""
    from {{ cookiecutter.package_name }}.stages import evaluate, ingest, prepare, register, train, validate

    ingest.run(cfg)
    validate.init(cfg)
    for stage in (validate, prepare, train, evaluate, register):
        stage.run(cfg)
        if stage.__name__.endswith(until):
            return


def session_bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One BentoML store for the whole session (BentoML reads BENTOML_HOME once per process)."""
    home = tmp_path_factory.getbasetemp() / "bentoml-home"
    home.mkdir(exist_ok=True)
    os.environ["BENTOML_HOME"] = str(home)
    return home


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
    project: Path,
    bentoml_home: Path,
    workdir: Path,
    timeout: float = 180,
    follow_champion: float = 0,
    env: dict[str, str] | None = None,
) -> Server:
    """`bentoml serve` of the project's service on a free 127.0.0.1 port (``env`` added to its environment);
    returns once /readyz answers 200."""
    port = free_port()
    db_url = f"sqlite:///{workdir / 'serving.db'}"
    env = (
        os.environ
        | (env or {})
        | {
            "SERVING_FOLLOW_CHAMPION": str(follow_champion),
            "BENTOML_HOME": str(bentoml_home),
            "SERVING_DB_URL": db_url,
            "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
    )
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


def server_binaries() -> Path | None:
    found = shutil.which("initdb") or next(
        iter(sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin/initdb")), reverse=True)), None
    )
    return Path(found).resolve().parent if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free loopback port (run as the `postgres` user when we are root); its URL."""
    bindir = server_binaries()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="serving-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        account = pwd.getpwnam("postgres" if _has_user("postgres") else "nobody")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", account.pw_name, "--"]
    data, port = root / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "serving", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://serving@127.0.0.1:{port}/postgres"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
