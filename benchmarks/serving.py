"""Serving, side by side on one machine, one run, the same champion: the BentoML service (A, `make serve`) vs
`mlflow models serve` (B) vs an empty BentoML endpoint (the framework's floor), alternated; what stopping and killing
the service costs; and `python -m <package> batch` vs in-memory `model.predict` vs `mlflow models predict` (batch).

    python -m benchmarks.serving --project DIR [--seconds 10] [--rounds 2] [--rows 1000000] [--old-src SRC]
        [--only batch] [--batch-rounds 1] [--smoke]

DIR is a baked project after `make setup pipeline` (a champion in its registry). The load generator is wrk
(Debian `wrk`) when installed, else a threaded Python generator in a separate process (the table says which).

- Real time, alternated A, B, floor for --rounds rounds: single-row requests at 16 concurrent keep-alive
  connections and 100-row requests at 4: requests/s, rows/s, p50, p99, p99/p50, errors, and the server's CPU
  time per request (all its processes; on a shared machine the figure that moves least). --old-src SRC serves A
  from another source tree as well (e.g. the previous commit's src/, for a before/after in the same run).
- 10% malformed: A under the single-row load plus a stream of malformed requests at a tenth of the total: the
  valid requests' p50 against the same load without them, and the server log those requests cost (lines,
  tracebacks).
- SIGKILL mid-load: every process of the service killed at once (as a container runtime does): acknowledged
  predictions missing from the serving layer. SIGTERM mid-load: requests sent before the signal that failed
  (and those sent after it, refused or cut), acknowledged predictions missing.
- Batch (--rows, 0 skips it; --only batch runs nothing else): the whole `batch` command (model load included) vs
  `mlflow models predict` on a table sampled from the holdout, alternated for --batch-rounds rounds (with
  --old-src, the batch command from that source tree too): wall and CPU seconds, and in-memory predict.

Targets (quiet machine): A/B >= 10x single-row, A >= 0.8x the floor, A/B >= 3x at 100 rows, p99 <= 3x p50,
0 lost after SIGKILL, 0 in-flight failed on SIGTERM, malformed mix moves valid p50 < 10%. Prints markdown tables and
the machine's load. Not a test; --smoke runs every section at tiny sizes (1 s loads, 2,000 batch rows) to prove
that the script works (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.project import Project
from benchmarks.served import Served, ServedProject, bento, floor, load, mlflow_serve
from tools.servers import free_port, postgres, postgres_bindir

MALFORMED = [
    "this is not json",
    '{"records": []}',
    '{"records": [{"no_such_feature": 1}]}',
    '{"rows": [1, 2, 3]}',
]


def model_path(project: ServedProject, record: dict[str, Any], seconds: float) -> dict[str, dict[str, float]]:
    """One-row predict latency through ServedModel on onnxruntime and on scikit-learn (no HTTP, one thread)."""
    found: dict[str, dict[str, float]] = json.loads(
        project.script("model_path_latency", project.package, json.dumps(record), str(seconds))
    )
    return found


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN when the denominator is 0 (a smoke run's second may time no CPU tick)."""
    return numerator / denominator if denominator else float("nan")


def print_model_path(results: dict[str, dict[str, float]]) -> None:
    print("\nModel path: one row through ServedModel (in-process, one thread)\n")
    print("| runtime: input | p50 µs | p99 µs | calls |\n| --- | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} | {r['calls']:,} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked project after make setup pipeline")
    parser.add_argument("--python", type=Path, help="its Python (default: DIR/.venv/bin/python)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="A, B and the floor alternate this many times")
    parser.add_argument("--rows", type=int, default=1_000_000, help="batch rows (0: no batch section)")
    parser.add_argument("--old-src", type=Path, help="also serve A from this source tree (before/after)")
    parser.add_argument("--only", choices=["batch"], help="run only this section")
    parser.add_argument("--batch-rounds", type=int, default=1, help="batch, before (--old-src) and B alternate")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.rows, args.batch_rounds = 1.0, 1, 2_000, 1
    warmup, answers_before_stop = (0.0, 20) if args.smoke else (3.0, 500)
    project = ServedProject(Project.at(args.project, args.python))
    champion = f"models:/{project.model_name}@champion"
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    project.import_champion()
    if args.only == "batch":
        batch(project, args, work)
        return
    split = json.loads(project.script("holdout_rows", "100", "--sample"))
    records = [dict(zip(split["columns"], row, strict=True)) for row in split["data"]]
    bodies = {
        1: (json.dumps({"records": records[:1]}), json.dumps({"dataframe_split": split | {"data": split["data"][:1]}})),
        100: (json.dumps({"records": records}), json.dumps({"dataframe_split": split})),
    }
    generator = "wrk" if shutil.which("wrk") else "threaded Python generator (wrk not installed)"
    uptime = [os.getloadavg()]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_ in range(args.rounds):
        for size, connections in ((1, 16), (100, 4)):
            tag = f"{round_}-{size}"
            contenders: list[tuple[str, Callable[[int], Served], str, int]] = [
                ("A", partial(bento, project, db=work / f"a-{tag}.db"), "/predict", 0)
            ]
            if args.old_src:
                contenders.append(
                    ("A before", partial(bento, project, db=work / f"o-{tag}.db", src=args.old_src), "/predict", 0)
                )
            contenders.append(("B", partial(mlflow_serve, project), "/invocations", 1))
            if size == 1:
                contenders.append(("floor", partial(floor, project), "/predict", 0))
            for name, start, path, which in contenders:
                with start(free_port()) as served:
                    r = load(served, path, [bodies[size][which]], args.seconds, connections, warmup=warmup)
                runs.setdefault((name, size), []).append(r | {"rows": r["rps"] * size})
                print(f"round {round_ + 1} {name} {size} row(s) c{connections}: {r}", flush=True)
        uptime.append(os.getloadavg())
    paths = model_path(project, records[0], min(args.seconds, 5))

    # 10% malformed: A with and without a malformed stream beside the valid one, alternated.
    mixed: dict[str, list[dict[str, Any]]] = {"valid only": [], "with 10% malformed": []}
    log_cost = {}
    for round_ in range(args.rounds):
        with bento(project, free_port(), work / f"m-{round_}.db") as served:
            mixed["valid only"].append(load(served, "/predict", [bodies[1][0]], args.seconds, 16, warmup=warmup))
            delay_ms = max(1.0, 1000 * 9 / mixed["valid only"][-1]["rps"])  # one malformed per nine valid
            before = served.log.stat().st_size
            bad: dict[str, Any] = {}
            thread = threading.Thread(
                target=lambda sink=bad, to=served, wait=delay_ms: sink.update(
                    load(to, "/predict", MALFORMED, args.seconds, 1, warmup=0, delay_ms=wait)
                )
            )
            thread.start()
            mixed["with 10% malformed"].append(load(served, "/predict", [bodies[1][0]], args.seconds, 16, warmup=0))
            thread.join()
            logged = served.log.read_bytes()[before:].decode(errors="replace")
        lines = [line for line in logged.splitlines() if line.strip()]
        log_cost = {
            "malformed": bad.get("sent", 0),
            "lines": len(lines),
            "tracebacks": logged.count("Traceback"),
            "bytes": len(logged.encode()),
        }
        print(f"round {round_ + 1} malformed mix: {mixed['with 10% malformed'][-1]} {log_cost}", flush=True)
    uptime.append(os.getloadavg())

    # SIGKILL and SIGTERM mid-load: what the clients were told vs what the serving layer holds.
    stops = {}
    for mode in ("kill", "term"):
        db = work / f"{mode}.db"
        with bento(project, free_port(), db) as served:
            out = project.script(
                "stop_under_load",
                project.package,
                str(served.port),
                bodies[1][0],
                str(served.process.pid),
                mode,
                f"sqlite:///{db}",
                str(answers_before_stop),
                "8",
                ",".join(map(str, served.processes())),
            )
            stops[mode] = json.loads(out)
        print(f"{mode}: {stops[mode]}", flush=True)
    uptime.append(os.getloadavg())

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; champion {champion}; load generator: {generator}; "
        f"load average (1 min) during the run: {', '.join(f'{u[0]:.1f}' for u in uptime)}\n"
    )
    print(f"Real time: {args.rounds} alternated round(s) of {args.seconds:.0f} s each, keep-alive connections\n")
    print("| server | request | clients | requests/s | rows/s | p50 ms | p99 ms | p99/p50 | errors | CPU ms/request |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, size), rs in runs.items():
        for r in rs:
            print(
                f"| {name} | {size} row(s) | {16 if size == 1 else 4} | {r['rps']:.0f} | {r['rows']:.0f} | "
                f"{r['p50']:.1f} | {r['p99']:.1f} | {ratio(r['p99'], r['p50']):.1f} | {r['errors']} | {r['cpu_ms']:.2f} |"
            )

    def mean(name: str, size: int, key: str = "rps") -> float:
        rs = runs.get((name, size), [])
        return sum(r[key] for r in rs) / len(rs) if rs else float("nan")

    print(
        f"\nA/B single-row: {ratio(mean('A', 1), mean('B', 1)):.2f}x (target >= 10x); A/floor: "
        f"{ratio(mean('A', 1), mean('floor', 1)):.2f}x (target >= 0.8x); A/B 100 rows: "
        f"{ratio(mean('A', 100), mean('B', 100)):.2f}x (target >= 3x)"
        + (f"; A/A-before single-row: {ratio(mean('A', 1), mean('A before', 1)):.2f}x" if args.old_src else "")
    )
    print(
        f"server CPU per request, B/A: single-row {ratio(mean('B', 1, 'cpu_ms'), mean('A', 1, 'cpu_ms')):.2f}x, "
        f"100 rows {ratio(mean('B', 100, 'cpu_ms'), mean('A', 100, 'cpu_ms')):.2f}x; A/floor single-row "
        f"{ratio(mean('A', 1, 'cpu_ms'), mean('floor', 1, 'cpu_ms')):.2f}x (the same work in less CPU: what a busy machine "
        "moves least)"
    )
    print_model_path(paths)
    print("\n10% malformed requests mixed into A's single-row load (16 clients):\n")
    print("| load | valid requests/s | valid p50 ms | valid p99 ms |\n| --- | ---: | ---: | ---: |")
    for name, rs in mixed.items():
        for r in rs:
            print(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} |")
    print(
        f"\nlast mixed round: {log_cost.get('malformed', 0)} malformed requests, server log during it "
        f"{log_cost.get('lines', 0)} lines ({log_cost.get('bytes', 0):,} bytes), "
        f"{log_cost.get('tracebacks', 0)} traceback(s)"
    )
    print(f"\nStopping A mid-load (8 clients, signalled after {answers_before_stop} answers):\n")
    print(
        "| signal | answered | answered but not stored | failed, sent before the signal | failed, sent after | "
        "refused after | exit s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for mode, r in stops.items():
        print(
            f"| {'SIGKILL (whole tree)' if mode == 'kill' else 'SIGTERM'} | {r['answered']} | {r['missing']} | "
            f"{r['failed_in_flight']} | {r['failed_after']} | {r['refused_after']} | {r['stopped_s']:.1f} |"
        )
    if args.rows > 0:
        batch(project, args, work)


def timed_child(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, the command and what it waited for) of one command, and its stdout."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def batch(project: ServedProject, args: argparse.Namespace, work: Path) -> None:
    """`python -m <package> batch` (and the same from --old-src) vs `mlflow models predict`, alternated, on --rows
    rows sampled from the holdout; each into a new SQLite serving layer. Wall and CPU seconds of whole commands."""
    champion = f"models:/{project.model_name}@champion"
    parquet, csv = work / "batch.parquet", work / "batch.csv"
    memory = json.loads(
        project.script(
            "batch_input", project.package, project.tracking_uri, champion, str(args.rows), str(parquet), str(csv)
        )
    )
    command = [str(project.python), "-m", project.package, "batch", "--input", str(parquet)]
    predict = [str(project.python.parent / "mlflow"), "models", "predict", "-m", champion, "-i", str(csv), "-t", "csv"]
    predict += ["-o", str(work / "mlflow-predictions.json"), "--env-manager", "local"]
    contenders = {f"python -m {project.package} batch into SQLite": (command, project.env)}
    if args.old_src:
        contenders["the same from --old-src"] = (command, project.env | {"PYTHONPATH": str(args.old_src)})
    contenders["mlflow models predict (CSV in, JSON out)"] = (predict, project.env)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    loops: dict[str, list[float]] = {}
    load = [os.getloadavg()[0]]
    for round_ in range(args.batch_rounds):
        for index, (name, (argv, env)) in enumerate(contenders.items()):
            env = env | {"SERVING_DB_URL": f"sqlite:///{work / f'batch-{round_}-{index}.db'}"}
            wall, cpu, out = timed_child(argv, project.root, env)
            runs[name].append((wall, cpu))
            if argv is command:
                loops.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1])["scoring_rows_per_second"])
            print(f"batch round {round_ + 1} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        load.append(os.getloadavg()[0])

    postgres_loop = None
    if postgres_bindir() is not None:  # as in the tests; without it the table leaves the PostgreSQL row out
        with postgres("serving") as server:
            env = project.env | {"SERVING_DB_URL": f"{server.url}/postgres"}
            _, _, out = timed_child(command, project.root, env)
            postgres_loop = json.loads(out.strip().splitlines()[-1])["scoring_rows_per_second"]

    best = {name: (min(w for w, _ in rs), min(c for _, c in rs)) for name, rs in runs.items()}
    print(
        f"\nBatch: {args.rows:,} rows, {args.batch_rounds} alternated round(s), best of each; load average (1 min) "
        f"during the section: {', '.join(f'{x:.1f}' for x in load)}\n"
    )
    print("| path | wall s | CPU s (user+sys) | rows/s (wall) |\n| --- | ---: | ---: | ---: |")
    for name, (wall, cpu) in best.items():
        print(f"| {name}: whole command | {wall:.2f} | {cpu:.2f} | {args.rows / wall:,.0f} |")
    for name, rates in loops.items():
        print(f"| {name}: its scoring and writing loop | | | {max(rates):,.0f} |")
    if postgres_loop is not None:
        print(
            f"| python -m {project.package} batch into PostgreSQL (COPY): its scoring and writing loop | | | "
            f"{postgres_loop:,.0f} |"
        )
    print(
        f"| in-memory model.predict (frame already loaded) | {memory['seconds']:.2f} | | "
        f"{memory['rows'] / memory['seconds']:,.0f} |"
    )
    ours, mlflow = best[next(iter(contenders))], best["mlflow models predict (CSV in, JSON out)"]
    print(
        f"\nbatch whole command vs mlflow models predict: {ratio(mlflow[0], ours[0]):.2f}x wall, "
        f"{ratio(mlflow[1], ours[1]):.2f}x CPU (target >= 5x)"
        + (
            f"; vs --old-src: {ratio(best['the same from --old-src'][0], ours[0]):.2f}x wall, "
            f"{ratio(best['the same from --old-src'][1], ours[1]):.2f}x CPU"
            if args.old_src
            else ""
        )
    )


if __name__ == "__main__":
    main()
