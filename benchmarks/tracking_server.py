"""The team tracking server's cost: the whole pipeline with the default SQLite tracking vs `make mlflow-server`
(MLflow on a real PostgreSQL, artifacts proxied, basic auth), same project, same machine, alternating runs.

    .venv/bin/python benchmarks/tracking_server.py --project DIR [--rounds 2]

DIR is a baked project after `make setup` (default: bake the default project into a temporary folder and set it
up). Needs PostgreSQL's server binaries (as the tests; benchmarks/serving.py's `postgres` starts a throwaway
one). The server is started and its users created as tests/test_tracking_server.py does (`make mlflow-server`,
`make mlflow-users`); each round runs `dvc repro --force` (all six stages) once with SQLite (the project's
mlflow.db) and once with MLFLOW_TRACKING_URI=http://127.0.0.1:<port> as the writer, in alternating order so that
a slower or busier moment does not favour one side. Prints a markdown table and the machine's load. Not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import (  # the shared throwaway PostgreSQL and helpers
    QUIET,
    free_port,
    postgres,
)

TEMPLATE = Path(__file__).resolve().parents[1]
ADMIN, WRITER, PR_REVIEW = "admin-Bench-1", "writer-Bench-2", "pr-review-Bench-3"
CREATE = r"""
import sys
import sqlalchemy
engine = sqlalchemy.create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    for name in sys.argv[2:]:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
print("created")
"""


def project_env(project: Path) -> dict[str, str]:
    """As a user's shell under `make`: the project's venv first, no outer venv, tracking URI or make levels."""
    outer = (
        "VIRTUAL_ENV",
        "MLFLOW_TRACKING_URI",
        "PYTHONPATH",
        "MAKELEVEL",
        "MAKEFLAGS",
        "MFLAGS",
    )
    env = {k: v for k, v in os.environ.items() if k not in outer} | QUIET
    return env | {"PATH": f"{project / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"}


def check(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def start_server(project: Path, base_url: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`make mlflow-server` on PostgreSQL, users created by `make mlflow-users`; the process and its URL."""
    python = str(project / ".venv" / "bin" / "python")
    env = project_env(project)
    check([python, "-c", CREATE, base_url, "mlflow", "mlflow_auth"], project, env)
    root = base_url.rsplit("/", 1)[0]
    port = free_port()
    env |= {
        "MLFLOW_BACKEND_STORE_URI": f"{root}/mlflow",
        "MLFLOW_AUTH_DATABASE_URI": f"{root}/mlflow_auth",
        "MLFLOW_ARTIFACTS_DESTINATION": str(work / "artifacts"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN,
        "MLFLOW_WRITER_PASSWORD": WRITER,
        "MLFLOW_PR_REVIEW_PASSWORD": PR_REVIEW,
    }
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        ["make", "mlflow-server", f"MLFLOW_PORT={port}"],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"make mlflow-server did not come up:\n{(work / 'server.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    check(["make", "mlflow-users", f"MLFLOW_PORT={port}"], project, env)
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project after `make setup`")
    parser.add_argument("--rounds", type=int, default=2, help="pipelines per tracking backend")
    args = parser.parse_args()
    project = args.project
    if project is None:
        out = Path(tempfile.mkdtemp(prefix="mlops-bench-tracking-"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cookiecutter",
                "--no-input",
                str(TEMPLATE),
                "-o",
                str(out),
            ],
            check=True,
        )
        project = out / "my-mlops-project"
        check(["make", "setup"], project, project_env(project))
    project = project.resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    database = postgres(work)
    if database is None:
        raise SystemExit("PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)")
    base_url, stop_postgres = database
    before = os.getloadavg()
    times: dict[str, list[float]] = {"sqlite": [], "server": []}
    try:
        server, url = start_server(project, base_url, work)
        try:
            sqlite = project_env(project)
            remote = sqlite | {
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_TRACKING_USERNAME": "writer",
                "MLFLOW_TRACKING_PASSWORD": WRITER,
            }
            for round_ in range(args.rounds):
                order = [("sqlite", sqlite), ("server", remote)]
                for name, env in order if round_ % 2 == 0 else order[::-1]:
                    seconds = check(["dvc", "repro", "--force"], project, env)
                    times[name].append(seconds)
                    print(f"round {round_ + 1}: {name} {seconds:.1f} s", flush=True)
        finally:
            stop(server)
    finally:
        subprocess.run(stop_postgres, check=False, capture_output=True)
    after = os.getloadavg()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {before[0]:.1f} before, {after[0]:.1f} {after[1]:.1f} {after[2]:.1f} after\n"
    )
    print("| tracking | pipelines | seconds each (`dvc repro --force`, 6 stages) | median s |")
    print("| --- | ---: | --- | ---: |")
    labels = {
        "sqlite": "SQLite file (default)",
        "server": "`make mlflow-server` (PostgreSQL, proxied artifacts, auth)",
    }
    for name, values in times.items():
        each = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {labels[name]} | {len(values)} | {each} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
