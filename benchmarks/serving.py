"""Serving, side by side on one machine, one run, the same champion: the BentoML service vs `mlflow models serve`
vs in-process pyfunc predict (real time), and `python -m <package> batch` vs in-memory `model.predict` vs
`mlflow models predict` (batch).

    python benchmarks/serving.py --project DIR [--seconds 20] [--concurrency 16] [--rows 1000000]

DIR is a baked project after `make setup pipeline` (a champion in its registry). Real time: single-row requests
from --concurrency client threads (keep-alive connections, a separate process) for --seconds, after a warm-up:
requests/s, p50, p99, errors. Batch: rows/s on a --rows table sampled from the holdout, the command's whole wall
time (loading the model included) for the two commands, and `model.predict` on the frame already in memory.
Targets: the service answers >= 3x the requests/s of `mlflow models serve` with <= half its p99 and no errors;
batch into the database reaches >= 50% of the in-memory predict rate. Prints a markdown table (for the README).
Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}

# Runs in the project's Python: a thread per connection, each posting one row at a time until the deadline.
LOAD = r"""
import http.client, json, sys, threading, time
host, port, path, body, seconds, concurrency, warmup = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode(), float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
latencies, errors, lock = [], [0], threading.Lock()
def worker(deadline, record):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    mine, bad = [], 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse(); response.read()
            ok = response.status == 200
        except Exception:
            ok = False; conn.close(); conn = http.client.HTTPConnection(host, port, timeout=60)
        if ok: mine.append(time.perf_counter() - started)
        else: bad += 1
    if record:
        with lock: latencies.extend(mine); errors[0] += bad
def run(seconds, record):
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=worker, args=(deadline, record)) for _ in range(concurrency)]
    [t.start() for t in threads]; [t.join() for t in threads]
run(warmup, False)
started = time.perf_counter(); run(seconds, True); elapsed = time.perf_counter() - started
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
print(json.dumps({"rps": len(latencies) / elapsed, "p50": pick(0.5), "p99": pick(0.99), "errors": errors[0], "requests": len(latencies)}))
"""

# Runs in the project's Python: the same single-row request body, scored by pyfunc predict in-process.
IN_PROCESS = r"""
import json, sys, time, mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
frame = pd.DataFrame(json.loads(sys.argv[3]))
for _ in range(50): model.predict(frame)
latencies, deadline = [], time.perf_counter() + float(sys.argv[4])
started = time.perf_counter()
while time.perf_counter() < deadline:
    t = time.perf_counter(); model.predict(frame); latencies.append(time.perf_counter() - t)
elapsed = time.perf_counter() - started
latencies.sort()
print(json.dumps({"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
                  "p99": latencies[int(0.99 * len(latencies))] * 1000, "errors": 0, "requests": len(latencies)}))
"""

# Runs in the project's Python: the --rows table, written as Parquet (for batch) and CSV (for mlflow models predict),
# and the in-memory predict rate on it.
BATCH_INPUT = r"""
import json, sys, time, mlflow, pandas as pd
from {package} import features
mlflow.set_tracking_uri(sys.argv[1])
names = [f["name"] for f in json.load(open("data/processed/features.json"))["features"]]
holdout = pd.read_parquet("data/processed/test.parquet")[names]
frame = holdout.sample(int(sys.argv[3]), replace=True, random_state=0).reset_index(drop=True)
frame.to_parquet(sys.argv[4]); frame.to_csv(sys.argv[5], index=False)
model = mlflow.sklearn.load_model(sys.argv[2])
schema = features.Schema.load("data/processed/features.json")
X = features.conform(frame, schema)
model.predict(X.head(1000))
started = time.perf_counter(); model.predict(X); seconds = time.perf_counter() - started
print(json.dumps({"rows": len(X), "seconds": seconds}))
"""


# Runs in the project's Python: one row through the served model's own path (serving/model.py), on each runtime the
# stored champion has: validated records as the service feeds them, and a DataFrame conformed as batch does.
MODEL_PATH = r"""
import json, sys, time, bentoml, pandas as pd
from {package} import config, features, serving
stored = bentoml.models.get(f"{serving.store_name(config.load().tracking.model_name)}:latest")
record, seconds, results = json.loads(sys.argv[1]), float(sys.argv[2]), {}
for runtime in ("onnxruntime", "scikit-learn"):
    served = serving.load(stored, runtime=runtime)
    cases = {
        "records, no DataFrame (the service)": lambda: served.predict_records([record]),
        "DataFrame + conform (batch; the service before)": lambda: served.predict(
            features.conform(pd.DataFrame([record]), served.schema)
        ),
    }
    for name, call in cases.items():
        for _ in range(200): call()
        latencies, deadline = [], time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter(); call(); latencies.append(time.perf_counter() - t)
        latencies.sort()
        results[f"{served.runtime_name}: {name}"] = {
            "p50_us": latencies[len(latencies) // 2] * 1e6, "p99_us": latencies[int(0.99 * len(latencies))] * 1e6,
            "calls": len(latencies),
        }
print(json.dumps(results))
"""


def model_path(project: Project, record: dict, seconds: float) -> dict[str, dict]:
    """One-row predict latency through ServedModel on onnxruntime and on scikit-learn (no HTTP, one thread)."""
    return json.loads(project.run_python(MODEL_PATH, json.dumps(record), str(seconds)))


def print_model_path(results: dict[str, dict]) -> None:
    print("\nModel path: one row through ServedModel (in-process, one thread)\n")
    print("| runtime: input | p50 µs | p99 µs | calls |\n| --- | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} | {r['calls']:,} |")


def postgres() -> tuple[str, list[str]] | None:
    """A throwaway PostgreSQL server for the batch comparison, when its binaries are installed (as in the tests)."""
    import pwd
    import shutil

    found = shutil.which("initdb") or next(
        iter(sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin/initdb")), reverse=True)), None
    )
    if not found:
        return None
    bindir, root = Path(found).resolve().parent, Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_user = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = free_port(), root / "data"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "serving", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    stop = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    return f"postgresql+psycopg://serving@127.0.0.1:{port}/postgres", stop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Project:
    def __init__(self, root: Path, python: Path) -> None:
        self.root, self.python = root, python
        self.env = (
            {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
            | QUIET
            | {
                "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
                "BENTOML_HOME": str(root / ".bentoml"),
            }
        )
        self.package = next(p.name for p in (root / "src").iterdir() if (p / "__main__.py").exists())
        params = self.run_python(
            "import json; from {package} import config; c = config.load(); "
            "print(json.dumps([c.tracking.resolved_uri, c.tracking.model_name]))"
        )
        uri, self.model_name = json.loads(params)
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            uri = f"sqlite:///{root / uri.removeprefix('sqlite:///')}"
        self.env["MLFLOW_TRACKING_URI"] = self.tracking_uri = uri

    def run_python(self, code: str, *args: str) -> str:
        code = code.replace("{package}", self.package)
        done = subprocess.run(
            [str(self.python), "-c", code, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"failed:\n{done.stderr[-3000:]}")
        return done.stdout.strip().splitlines()[-1]

    def timed(self, command: list[str], env: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        done = subprocess.run(command, cwd=self.root, env=env or self.env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        return time.perf_counter() - started


def serve_and_load(
    project: Project, command: list[str], path: str, body: str, args: argparse.Namespace, port: int, env: dict[str, str]
) -> dict:
    log = (Path(tempfile.gettempdir()) / f"bench-serve-{port}.log").open("wb")
    server = subprocess.Popen(
        command, cwd=project.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        probe = (
            "import sys, time, urllib.request as u\n"
            "for _ in range(600):\n"
            "    try:\n"
            f"        u.urlopen('http://127.0.0.1:{port}{{}}', timeout=2); sys.exit(0)\n"
            "    except Exception: time.sleep(0.5)\n"
            "sys.exit(1)"
        )
        health = "/readyz" if "bentoml" in command else "/ping"
        subprocess.run([str(project.python), "-c", probe.format(health)], check=True)
        out = project.run_python(
            LOAD, "127.0.0.1", str(port), path, body, str(args.seconds), str(args.concurrency), str(args.warmup)
        )
        return json.loads(out)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(120)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked project after make setup pipeline")
    parser.add_argument("--python", type=Path, help="its Python (default: DIR/.venv/bin/python)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    root = args.project.resolve()
    project = Project(root, args.python or root / ".venv" / "bin" / "python")
    champion = f"models:/{project.model_name}@champion"
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    subprocess.run(
        [str(project.python), "-m", project.package, "import-model"],
        cwd=root,
        env=project.env,
        check=True,
        capture_output=True,
    )

    row = json.loads(
        project.run_python(
            "import json, pandas as pd; names = [f['name'] for f in json.load(open('data/processed/features.json'))"
            "['features']]; print(pd.read_parquet('data/processed/test.parquet')[names].head(1).to_json(orient='split', index=False))"
        )
    )
    record = dict(zip(row["columns"], row["data"][0], strict=True))
    realtime = {}
    port = free_port()
    realtime["BentoML service (make serve)"] = serve_and_load(
        project,
        [
            str(project.python),
            "-m",
            "bentoml",
            "serve",
            f"{project.package}.serving.service:Predictor",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        "/predict",
        json.dumps({"records": [record]}),
        args,
        port,
        project.env | {"SERVING_DB_URL": f"sqlite:///{work / 'online.db'}"},
    )
    port = free_port()
    realtime["mlflow models serve"] = serve_and_load(
        project,
        [
            str(project.python.parent / "mlflow"),
            "models",
            "serve",
            "-m",
            champion,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--env-manager",
            "local",
        ],
        "/invocations",
        json.dumps({"dataframe_split": {"columns": row["columns"], "data": row["data"]}}),
        args,
        port,
        project.env,
    )
    paths = model_path(project, record, min(args.seconds, 5))
    realtime["in-process pyfunc predict (1 thread, the limit)"] = json.loads(
        project.run_python(IN_PROCESS, project.tracking_uri, champion, json.dumps([record]), str(args.seconds))
    )

    parquet, csv = work / "batch.parquet", work / "batch.csv"
    memory = json.loads(
        project.run_python(BATCH_INPUT, project.tracking_uri, champion, str(args.rows), str(parquet), str(csv))
    )
    command = [str(project.python), "-m", project.package, "batch", "--input", str(parquet)]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=root,
        env=project.env | {"SERVING_DB_URL": f"sqlite:///{work / 'batch.db'}"},
        capture_output=True,
        text=True,
        check=True,
    )
    whole = time.perf_counter() - started
    job = json.loads(done.stdout.strip().splitlines()[-1])
    batch_rows = {
        f"python -m {project.package} batch into SQLite: whole command": args.rows / whole,
        f"python -m {project.package} batch into SQLite: its scoring and writing loop": job["scoring_rows_per_second"],
        "in-memory model.predict (frame already loaded)": memory["rows"] / memory["seconds"],
        "mlflow models predict (CSV in, JSON out, whole command)": args.rows
        / project.timed(
            [
                str(project.python.parent / "mlflow"),
                "models",
                "predict",
                "-m",
                champion,
                "-i",
                str(csv),
                "-t",
                "csv",
                "-o",
                str(work / "mlflow-predictions.json"),
                "--env-manager",
                "local",
            ]
        ),
    }

    server = postgres()
    if server is not None:
        url, stop = server
        try:
            done = subprocess.run(
                command, cwd=root, env=project.env | {"SERVING_DB_URL": url}, capture_output=True, text=True, check=True
            )
            job = json.loads(done.stdout.strip().splitlines()[-1])
            batch_rows[f"python -m {project.package} batch into PostgreSQL (COPY): its scoring and writing loop"] = job[
                "scoring_rows_per_second"
            ]
        finally:
            subprocess.run(stop, check=False, capture_output=True)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; champion {champion}\n"
    )
    print(f"Real time: single-row requests, {args.concurrency} concurrent clients, {args.seconds:.0f} s\n")
    print("| server | requests/s | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: |")
    for name, r in realtime.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} |")
    print_model_path(paths)
    print(f"\nBatch: {args.rows:,} rows\n")
    print("| path | rows/s |\n| --- | ---: |")
    for name, rate in batch_rows.items():
        print(f"| {name} | {rate:,.0f} |")
    bento, mlflow_serve = realtime["BentoML service (make serve)"], realtime["mlflow models serve"]
    batch_rate = list(batch_rows.values())[1]
    print(
        f"\nservice vs mlflow models serve: {bento['rps'] / mlflow_serve['rps']:.1f}x requests/s (target >= 3x), "
        f"p99 {bento['p99'] / mlflow_serve['p99']:.2f}x (target <= 0.5x), errors {bento['errors']} (target 0); "
        f"batch loop at {batch_rate / batch_rows['in-memory model.predict (frame already loaded)']:.0%} of in-memory "
        "predict (target >= 50%)"
    )


if __name__ == "__main__":
    main()
