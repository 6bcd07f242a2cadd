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
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.training import features, search
from {{ cookiecutter.package_name }}.training.search import Trial

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TARGETS = {"classification": "churned", "regression": "lifetime_spend"}
PATHS = config.load(PROJECT / "params.yaml").paths  # the pipeline's files (params.yaml `paths:`), relative
PACKAGE = config.__name__.split(".")[0]


def customers_split(task: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, Schema]:
    """customers.csv (text categories, missing values) split into training rows and holdout rows, conformed."""
    table = pd.read_csv(FIXTURES / "customers.csv").drop(columns=["customer_id"])
    target, other = TARGETS[task], TARGETS["regression" if task == "classification" else "classification"]
    table = table.drop(columns=[other])
    schema = features.infer(table, target, task)
    X = features.conform(table, schema)
    return X.iloc[:160], table[target].iloc[:160], X.iloc[160:], schema


def fitted(family: str, task: str, **params):
    """A ``family`` pipeline fitted on customers.csv's training rows; with its holdout and schema."""
    X, y, holdout, schema = customers_split(task)
    model = search.pipeline_for(Trial(family, params), schema, seed=0).fit(X, y)
    return model, holdout, schema


def complementary_table(rows: int = 600) -> pd.DataFrame:
    """A regression table whose target has a strong linear part (a ridge gets it exactly, trees only in steps) and an
    interaction (trees get it, a ridge cannot): a soft vote of the two families beats either (training/ensemble.py)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=[f"x{i}" for i in range(4)])
    frame["target"] = 3 * frame["x0"] + 2 * frame["x1"] + 0.6 * frame["x2"] * frame["x3"] + 0.3 * rng.normal(size=rows)
    return frame


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
    mlflow.set_registry_uri(os.environ["MLFLOW_TRACKING_URI"])  # and its registry URI (tracking.runs.configure)
    try:
        yield
    finally:
        os.chdir(before)
        if uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)  # type: ignore[arg-type]  # MLflow's hint omits it, but None resets to the environment or the default
        os.environ.pop("MLFLOW_REGISTRY_URI", None)  # set_registry_uri exports its URI; None would leave it there
        mlflow.set_registry_uri(uri)  # type: ignore[arg-type]  # None: the registry follows the tracking URI again


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
    *,
    db_url: str | None = None,
    env: dict[str, str] | None = None,
    ready: tuple[int, ...] = (200,),
) -> Server:
    """`bentoml serve` of the project's service on a free 127.0.0.1 port; returns once /readyz answers one of
    ``ready`` (200; add 503 for a service that starts while its database is down). ``env``: more variables."""
    port = free_port()
    db_url = db_url or f"sqlite:///{workdir / 'serving.db'}"
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
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code in ready:
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


@dataclass
class Postgres:
    """A throwaway PostgreSQL server: its URL, and the outages the tests inject (stop, start, freeze, thaw)."""

    url: str
    bindir: Path
    data: Path
    options: str
    log: Path
    as_user: list[str]

    def pg_ctl(self, *args: str) -> None:
        command = [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and every backend (its children): what SIGSTOP freezes."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        found = [postmaster]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == postmaster:
                        found.append(int(entry.name))
                except (OSError, ValueError):
                    continue
        return found

    def freeze(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL server on a free loopback port (run as the `postgres` user when we are root)."""
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
    command = [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "serving", "--auth=trust", "-E", "UTF8"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    server = Postgres(
        f"postgresql+psycopg://serving@127.0.0.1:{port}/postgres", bindir, data, options, root / "server.log", as_user
    )
    server.start()
    try:
        yield server
    finally:
        with suppress(ProcessLookupError, FileNotFoundError, ValueError):
            server.thaw()
        with suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server's URL (see ``postgres``)."""
    with postgres() as server:
        yield server.url


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
