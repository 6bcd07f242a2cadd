"""Service replicas on one PostgreSQL serving layer: combined requests/s of two `bentoml serve` processes (two ports,
one worker each) vs one, under the same total number of concurrent clients, same machine, same run.

    python -m benchmarks.replicas --project DIR [--seconds 20] [--concurrency 16] [--smoke]

DIR is a baked project after `make setup pipeline`. Needs PostgreSQL's server binaries (as the tests). Each replica
gets half the clients (keep-alive connections, single-row requests, benchmarks/in_project/http_load.py). After
the load (no warm-up, so every request counts), every replica is stopped cleanly and the serving layer's online
rows are counted: they must equal the answered requests (nothing lost, nothing twice). Prints a markdown table and
the machine's load. Not a test; --smoke runs 1 s with 2 clients (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.project import Project
from benchmarks.served import Served, ServedProject, bento
from tools.servers import free_port, postgres, postgres_bindir


def run(project: ServedProject, replicas: int, url: str, body: str, args: argparse.Namespace) -> dict[str, Any]:
    project.script("empty_serving_layer", project.package, url)
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:  # every replica stopped (SIGTERM, drained) before the rows are counted
        servers: list[Served] = [
            stack.enter_context(bento(project, free_port(), url, workers=1)) for _ in range(replicas)
        ]
        share = max(1, args.concurrency // replicas)

        def put_load(served: Served) -> None:
            arguments = [json.dumps([body]), str(args.seconds), str(share), "0"]  # no warm-up: every request counts
            out = project.script("http_load", "127.0.0.1", str(served.port), "/predict", *arguments)
            results.append(json.loads(out))

        threads = [threading.Thread(target=put_load, args=(served,)) for served in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stored = int(project.script("count_online_rows", project.package, url))
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
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.concurrency = 1.0, 2
    project = ServedProject(Project.at(args.project))
    project.import_champion()
    row = json.loads(project.script("holdout_rows", "1"))
    body = json.dumps({"records": [dict(zip(row["columns"], row["data"][0], strict=True))]})
    if postgres_bindir() is None:
        raise SystemExit("PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)")
    load_before = os.getloadavg()
    with postgres("serving") as server:
        url = f"{server.url}/postgres"
        results = {n: run(project, n, url, body, args) for n in (1, 2)}
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
