"""Outages under a steady load: what clients and operators see while the serving layer or the tracking server fails.

    python -m benchmarks.outages [--project DIR] [--hold 65] [--skip-serving] [--smoke]

DIR is a baked project after `make setup` (default: a fresh one; its tests train their own small project). The
serving-layer outages are the project's own tests (tests/serving/test_outages.py: SQLite's write lock held by
another client, the service's write lock held so that a write hangs past every deadline, PostgreSQL stopped, frozen
with SIGSTOP, its table locked), each under 4 clients for ``--hold`` seconds (the issue's 60 s timeout: 65), with
their timeline written by the tests (OUTAGES_REPORT). Then the tracking server: an `mlflow server` killed, then
frozen, while `python -m <package> train` runs against it, with the project's own MLflow retry defaults: how long
until the stage gives up, its last line, and whether its run stayed RUNNING after the next train.

Prints a markdown table per part and the machine's load. Not a test (the project's tests assert; this measures);
--smoke holds one serving outage (SQLite locked) 3 s and kills the tracking server only (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.project import IN_PROJECT, Project, bake_and_set_up, load_average
from tools.servers import free_port, wait_until_ready


def serving_outages(project: Project, hold: float, select: str = "") -> list[dict[str, Any]]:
    """The project's outage tests under load (those pytest's -k ``select`` picks); one timeline (a dict) each."""
    report = Path(tempfile.mkdtemp(prefix="outages-")) / "timelines.jsonl"
    env = project.env(OUTAGES_REPORT=str(report), OUTAGES_HOLD_S=str(hold))
    command = [str(project.python), "-m", "pytest", "tests/serving/test_outages.py", "-q", "-p", "no:cacheprovider"]
    command += ["-k", select] if select else []
    done = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, check=False)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:], file=sys.stderr)
    return [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []


def mlflow_server(project: Project, store: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`mlflow server` on loopback over ``store`` (SQLite and a local artifact folder), once it answers."""
    command = [
        str(project.python.parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
    ]
    command += ["--artifacts-destination", str(store / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        server = subprocess.Popen(command, env=project.env(), stdout=out, stderr=out, start_new_session=True)
    wait_until_ready(server, f"http://127.0.0.1:{port}/health", log, 120)
    return server


def running_runs(project: Project, uri: str) -> int:
    return int(project.script("running_runs", uri) or -1)


def tracking_outage(project: Project, how: str) -> dict[str, Any]:
    """Train against a tracking server that is killed (or frozen) once the stage's run is RUNNING."""
    work = Path(tempfile.mkdtemp(prefix=f"tracking-{how}-"))
    command = [str(project.python), str(IN_PROJECT / "train_ready.py"), project.package, str(work / "p")]
    subprocess.run(command, cwd=project.root, env=project.env(), check=True, capture_output=True)
    port, store = free_port(), work / "store"
    store.mkdir()
    uri = f"http://127.0.0.1:{port}"
    server = mlflow_server(project, store, port, work / "server.log")
    env = {k: v for k, v in project.env(MLFLOW_TRACKING_URI=uri).items() if not k.startswith("MLFLOW_HTTP_")}
    train = [str(project.python), "-m", project.package, "train"]
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


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in head) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked, set-up project (default: bake and set up one)")
    parser.add_argument("--hold", type=float, default=65, help="seconds each serving-layer outage lasts")
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="one 3 s outage per part (tests)")
    args = parser.parse_args()
    hold, kinds = (3.0, ("killed",)) if args.smoke else (args.hold, ("killed", "frozen"))
    select = "sqlite_locked_by_another_client" if args.smoke else ""
    project = Project.at(args.project or bake_and_set_up("mlops-bench-outages-"))
    print(f"{os.cpu_count()} cores; load average (1/5/15 min) at start: {load_average()}")
    if not args.skip_serving:
        print(f"\n## The serving layer ({hold:g} s each, 4 clients, SERVING_WRITE_TIMEOUT=1)\n")
        print(table(serving_outages(project, hold, select)))
    print("\n## The tracking server (mlflow server, train running; the project's retry defaults)\n")
    print(table([tracking_outage(project, how) for how in kinds]))
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    main()
