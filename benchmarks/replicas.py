"""Service replicas on one PostgreSQL serving layer: combined requests/s of two `bentoml serve` processes (two ports,
one worker each) vs one, under the same total number of concurrent clients, same machine, same run.

    python benchmarks/replicas.py --project DIR [--seconds 20] [--concurrency 16]

DIR is a baked project after `make setup pipeline`. Needs PostgreSQL's server binaries (as the tests). Each replica
gets half the clients (keep-alive connections, single-row requests, benchmarks/serving.py's load generator). After
the load (no warm-up, so every request counts), every replica is stopped cleanly and the serving layer's online
rows are counted: they must equal the answered requests (nothing lost, nothing twice). Prints a markdown table and the machine's load. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import (  # the shared load generator and helpers
    LOAD,
    Project,
    free_port,
    postgres,
)

EMPTY = r"""
import sys
from {package}.predictions import database, queries
with database.connect(sys.argv[1]).begin() as connection:
    connection.execute(database.predictions.delete())
    connection.execute(database.requests.delete())
print("emptied")
"""
COUNT = r"""
import sys
from {package}.predictions import database, queries
print(queries.count(database.connect(sys.argv[1]), database.ONLINE))
"""


def start(project: Project, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [str(project.python), "-m", "bentoml", "serve", f"{project.package}.serving.service:Predictor"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as stream:
        server = subprocess.Popen(
            command, cwd=project.root, env=env, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
        )
    probe = (
        "import sys, time, urllib.request as u\n"
        "for _ in range(600):\n"
        "    try:\n"
        f"        u.urlopen('http://127.0.0.1:{port}/readyz', timeout=2); sys.exit(0)\n"
        "    except Exception: time.sleep(0.5)\n"
        "sys.exit(1)"
    )
    subprocess.run([str(project.python), "-c", probe], check=True)
    return server


def run(project: Project, replicas: int, url: str, body: str, args: argparse.Namespace, work: Path) -> dict:
    project.run_python(EMPTY, url)
    env = project.env | {"SERVING_DB_URL": url, "SERVING_WORKERS": "1"}
    ports = [free_port() for _ in range(replicas)]
    servers = [start(project, port, env, work / f"replica-{port}.log") for port in ports]
    results: list[dict] = []
    try:

        def load(port: int) -> None:
            share = str(max(1, args.concurrency // replicas))
            out = project.run_python(LOAD, "127.0.0.1", str(port), "/predict", body, str(args.seconds), share, "0")
            results.append(json.loads(out))

        threads = [threading.Thread(target=load, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(120)
    stored = int(project.run_python(COUNT, url))
    answered = sum(r["requests"] for r in results)
    return {
        "rps": sum(r["rps"] for r in results),
        "p99": max(r["p99"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "answered": answered,
        "stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    root = args.project.resolve()
    project = Project(root, root / ".venv" / "bin" / "python")
    work = Path(tempfile.mkdtemp(prefix="replicas-bench-"))
    subprocess.run([str(project.python), "-m", project.package, "import-model"], cwd=root, env=project.env, check=True)
    row = json.loads(
        project.run_python(
            "import json, pandas as pd; names = [f['name'] for f in json.load(open('data/processed/features.json'))"
            "['features']]; print(pd.read_parquet('data/processed/test.parquet')[names].head(1).to_json(orient='split', index=False))"
        )
    )
    body = json.dumps({"records": [dict(zip(row["columns"], row["data"][0], strict=True))]})
    server = postgres(work)
    if server is None:
        raise SystemExit("PostgreSQL's server binaries are not installed")
    url, stop = server
    load_before = os.getloadavg()
    try:
        results = {n: run(project, n, url, body, args, work) for n in (1, 2)}
    finally:
        subprocess.run(stop, check=False, capture_output=True)
    load_after = os.getloadavg()
    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} CPU(s); load average before {load_before[0]:.1f}, "
        f"after {load_after[0]:.1f}; {args.concurrency} clients, {args.seconds:.0f} s, single-row requests\n"
    )
    print("| replicas (1 worker each) | requests/s | worst p99 ms | errors | answered | rows stored |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for n, r in results.items():
        print(f"| {n} | {r['rps']:.0f} | {r['p99']:.1f} | {r['errors']} | {r['answered']} | {r['stored']} |")


if __name__ == "__main__":
    main()
