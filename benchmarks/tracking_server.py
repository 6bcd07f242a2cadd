"""The team tracking server's cost: the whole pipeline with the default SQLite tracking vs `make mlflow-server`
(MLflow on a real PostgreSQL, artifacts proxied, basic auth), same project, same machine, alternating runs.

    python -m benchmarks.tracking_server [--project DIR] [--rounds 2] [--until STAGE] [--smoke]

DIR is a baked project after `make setup` (default: bake the default project into a temporary folder and set it
up). Needs PostgreSQL's server binaries (as the tests; tools/servers.py starts a throwaway one). The server is
started and its users created as tests/test_tracking_server.py does (`make mlflow-server`, `make mlflow-users`);
each round runs `dvc repro --force` (all six stages) once with SQLite (the project's mlflow.db) and once with
MLFLOW_TRACKING_URI=http://127.0.0.1:<port> as the writer, in alternating order so that a slower or busier moment
does not favour one side. Prints a markdown table and the machine's load. Not a test; --smoke runs one round of
ingest to train, whose search logs to the server (tests/test_benchmarks.py runs it on a clone of the default
project with a one-candidate search).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.project import bake_and_set_up
from tools.environment import project_env
from tools.servers import free_port, postgres, postgres_bindir, serving

ADMIN, WRITER, PR_REVIEW = "admin-Bench-1", "writer-Bench-2", "pr-review-Bench-3"


def check(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800) -> float:
    """Run ``command``; its wall seconds (exit with its output's tail if it fails)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def pipelines(project: Path, url: str, rounds: int, until: str | None = None) -> dict[str, list[float]]:
    """``rounds`` alternating `dvc repro --force [until]` runs with SQLite tracking and with the server at ``url``."""
    sqlite = project_env(project)
    remote = sqlite | {
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_USERNAME": "writer",
        "MLFLOW_TRACKING_PASSWORD": WRITER,
    }
    times: dict[str, list[float]] = {"sqlite": [], "server": []}
    for round_ in range(rounds):
        order = [("sqlite", sqlite), ("server", remote)]
        for name, env in order if round_ % 2 == 0 else order[::-1]:
            seconds = check(["dvc", "repro", "--force", *([until] if until else [])], project, env)
            times[name].append(seconds)
            print(f"round {round_ + 1}: {name} {seconds:.1f} s", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project after `make setup`")
    parser.add_argument("--rounds", type=int, default=2, help="pipelines per tracking backend")
    parser.add_argument("--until", help="the last stage to run (default: all six)")
    parser.add_argument("--smoke", action="store_true", help="one round until train: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.until = 1, args.until or "train"
    if postgres_bindir() is None:
        raise SystemExit("PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)")
    project = (args.project or bake_and_set_up("mlops-bench-tracking-")).resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    before = os.getloadavg()
    with postgres("mlflow", ("mlflow", "mlflow_auth")) as database:
        port = free_port()
        env = project_env(project) | {
            "MLFLOW_BACKEND_STORE_URI": f"{database.url}/mlflow",
            "MLFLOW_AUTH_DATABASE_URI": f"{database.url}/mlflow_auth",
            "MLFLOW_ARTIFACTS_DESTINATION": str(work / "artifacts"),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN,
            "MLFLOW_WRITER_PASSWORD": WRITER,
            "MLFLOW_PR_REVIEW_PASSWORD": PR_REVIEW,
        }
        url = f"http://127.0.0.1:{port}"
        command = ["make", "mlflow-server", f"MLFLOW_PORT={port}"]
        with serving(command, project, f"{url}/health", work / "server.log", env=env, timeout=180, grace=30):
            check(["make", "mlflow-users", f"MLFLOW_PORT={port}"], project, env)
            times = pipelines(project, url, args.rounds, args.until)
    after = os.getloadavg()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {before[0]:.1f} before, {after[0]:.1f} {after[1]:.1f} {after[2]:.1f} after\n"
    )
    stages = f"until {args.until}" if args.until else "6 stages"
    print(f"| tracking | pipelines | seconds each (`dvc repro --force`, {stages}) | median s |")
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
