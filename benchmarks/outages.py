"""Outages under a steady load: what clients and operators see while the serving layer or the tracking server fails.

    python benchmarks/outages.py --project DIR [--hold 65]

DIR is a baked project after `make setup` (its tests train their own small project). The serving-layer outages are
the project's own tests (tests/serving/test_outages.py: SQLite's write lock held by another client, the service's
write lock held so that a write hangs past every deadline, PostgreSQL stopped, frozen with SIGSTOP, its table
locked), each under 4 clients for ``--hold`` seconds (the issue's 60 s timeout: 65), with their timeline written by
the tests (OUTAGES_REPORT). Then the tracking server: `make mlflow-server`'s `mlflow server` killed, then frozen,
while `python -m <package> train` runs against it, with the project's own MLflow retry defaults: how long until
the stage gives up, its last line, and whether its run stayed RUNNING after the next train.

Prints a markdown table per part and the machine's load. Not a test (the tests assert; this measures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import QUIET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving_outages(project: Path, hold: float) -> list[dict]:
    report = Path(tempfile.mkdtemp(prefix="outages-")) / "timelines.jsonl"
    env = os.environ | QUIET | {"OUTAGES_REPORT": str(report), "OUTAGES_HOLD_S": str(hold)}
    command = [str(project / ".venv/bin/pytest"), "tests/serving/test_outages.py", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:], file=sys.stderr)
    return [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []


TRAIN_READY = r"""
import sys
sys.path.insert(0, ".")
from pathlib import Path
from tests.helpers import make_project, inside, run_pipeline
from {package}.core import config
root = Path(sys.argv[1])
make_project(root)
with inside(root):
    run_pipeline(config.load("params.yaml"), until="prepare")
"""


def mlflow_server(project: Path, store: Path, port: int, log: Path) -> subprocess.Popen:
    command = [str(project / ".venv/bin/mlflow"), "server", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(store / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        server = subprocess.Popen(command, env=os.environ | QUIET, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not start: {log.read_text()[-2000:]}")


def running_runs(project: Path, uri: str) -> int:
    code = (
        "import sys, mlflow; c = mlflow.MlflowClient(sys.argv[1]);"
        "print(sum(len(c.search_runs([e.experiment_id], \"attributes.status = 'RUNNING'\")) for e in c.search_experiments()))"
    )
    done = subprocess.run([str(project / ".venv/bin/python"), "-c", code, uri], capture_output=True, text=True)
    return int(done.stdout.strip() or -1)


def tracking_outage(project: Path, how: str) -> dict:
    package = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").exists())
    work = Path(tempfile.mkdtemp(prefix=f"tracking-{how}-"))
    code = TRAIN_READY.replace("{package}", package)
    subprocess.run([str(project / ".venv/bin/python"), "-c", code, str(work / "p")], cwd=project, check=True,
                   env=os.environ | QUIET, capture_output=True)  # fmt: skip
    port, store = free_port(), work / "store"
    store.mkdir()
    uri = f"http://127.0.0.1:{port}"
    server = mlflow_server(project, store, port, work / "server.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_")} | QUIET
    env |= {"MLFLOW_TRACKING_URI": uri}
    train = [str(project / ".venv/bin/python"), "-m", package, "train"]
    started = time.monotonic()
    job = subprocess.Popen(train, cwd=work / "p", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while running_runs(project, uri) < 1 and job.poll() is None:
        time.sleep(0.2)
    failed_at = time.monotonic()
    os.killpg(server.pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
    _, stderr = job.communicate(timeout=600)
    gave_up = time.monotonic() - failed_at
    if how == "frozen":
        os.killpg(server.pid, signal.SIGCONT)
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    server = mlflow_server(project, store, port, work / "server.log")
    try:
        again = subprocess.run(train, cwd=work / "p", env=env, capture_output=True, text=True, timeout=900)
        if again.returncode != 0:
            print(f"the next train failed: {again.stderr[-2000:]}", file=sys.stderr)
        left = running_runs(project, uri)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    return {
        "tracking server": how,
        "failed after s": round(failed_at - started, 1),
        "stage gave up after s": round(gave_up, 1),
        "exit": job.returncode,
        "traceback": "Traceback" in stderr,
        "last line": lines[-1][:160] if lines else "",
        "next train": "ok" if again.returncode == 0 else f"exit {again.returncode}",
        "runs RUNNING after it": left,
    }


def table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in head) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--hold", type=float, default=65, help="seconds each serving-layer outage lasts")
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args()
    project = args.project.resolve()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start")
    if not args.skip_serving:
        print(f"\n## The serving layer ({args.hold:g} s each, 4 clients, SERVING_WRITE_TIMEOUT=1)\n")
        print(table(serving_outages(project, args.hold)))
    print("\n## The tracking server (mlflow server, train running; the project's retry defaults)\n")
    print(table([tracking_outage(project, how) for how in ("killed", "frozen")]))
    print(f"\nload {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
