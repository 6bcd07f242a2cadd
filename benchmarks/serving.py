"""Serving, side by side on one machine, one run, the same champion: the BentoML service (A, `make serve`) vs
`mlflow models serve` (B) vs an empty BentoML endpoint (the framework's floor), alternated; what stopping and killing
the service costs; and `python -m <package> batch` vs in-memory `model.predict` vs `mlflow models predict` (batch).

    python benchmarks/serving.py --project DIR [--seconds 10] [--rounds 2] [--rows 1000000] [--old-src SRC]
        [--only batch] [--batch-rounds 1]

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
the machine's load. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

from _env import QUIET

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

# Runs in the project's Python: the --rows table, written as Parquet (for batch) and CSV (for mlflow models predict),
# and the in-memory predict rate on it.
BATCH_INPUT = r"""
import json, sys, time, mlflow, pandas as pd
from {package}.core.schema import Schema
from {package}.training import features
mlflow.set_tracking_uri(sys.argv[1])
names = [f["name"] for f in json.load(open("data/processed/features.json"))["features"]]
holdout = pd.read_parquet("data/processed/test.parquet")[names]
frame = holdout.sample(int(sys.argv[3]), replace=True, random_state=0).reset_index(drop=True)
frame.to_parquet(sys.argv[4]); frame.to_csv(sys.argv[5], index=False)
model = mlflow.sklearn.load_model(sys.argv[2])
schema = Schema.load("data/processed/features.json")
X = features.conform(frame, schema)
model.predict(X.head(1000))
started = time.perf_counter(); model.predict(X); seconds = time.perf_counter() - started
print(json.dumps({"rows": len(X), "seconds": seconds}))
"""


# Runs in the project's Python: one row through the served model's own path (serving/model.py), on each runtime the
# stored champion has: validated records as the service feeds them, and a DataFrame conformed as batch does.
MODEL_PATH = r"""
import json, sys, time, bentoml, pandas as pd
from {package} import serving
from {package}.core import config
from {package}.core.schema import Schema
from {package}.training import features
stored = bentoml.models.get(f"{serving.store_name(config.load().tracking.model_name)}:latest")
record, seconds, results = json.loads(sys.argv[1]), float(sys.argv[2]), {}
row = tuple(record[name] for name in Schema.from_dict(stored.info.metadata).names)
for runtime in ("onnxruntime", "scikit-learn"):
    served = serving.load(stored, runtime=runtime)
    cases = {
        "a validated row, no DataFrame (the service)": lambda: served.predict_rows([row]),
        "DataFrame + conform (the service before)": lambda: served.predict(
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


# wrk's script: the request body, and one JSON line of results when done (latencies in ms).
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {__BODIES__}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[i % #bodies + 1])
end
__DELAY__
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "non2xx": %d, "socket": %d, "p50": %f, "p99": %f}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""

# The framework's floor: a BentoML endpoint with the same workers that parses the same body and does nothing else.
EMPTY_SERVICE = """
import bentoml


@bentoml.service(name="empty", workers=2, traffic={"timeout": 60, "max_concurrency": 512})
class Empty:
    @bentoml.api
    def predict(self, records: list[dict]) -> list[dict]:
        return [{"prediction": 0} for _ in records]
"""

# Runs in the project's Python: clients on keep-alive connections until the service is signalled after
# `answered` answers; then the serving layer is checked for every acknowledged prediction.
STOP_UNDER_LOAD = r"""
import http.client, json, os, signal, sys, threading, time
from sqlalchemy import select
from {package}.predictions import database
port, body, pid, mode, db, wanted, clients = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
tree = [int(each) for each in sys.argv[8].split(",")]  # the service's processes (Served.processes)
answered, failed, refused, stop, lock = [], [], [0], threading.Event(), threading.Lock()
def client():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        sent = time.monotonic()
        try:
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = conn.getresponse(); data = response.read()
        except ConnectionRefusedError:
            refused[0] += 1; conn.close(); time.sleep(0.05); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60); continue
        except Exception as error:
            with lock: failed.append((sent, type(error).__name__))
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60); continue
        with lock:
            if response.status == 200: answered.extend(a["id"] for a in json.loads(data))
            else: failed.append((sent, str(response.status)))
threads = [threading.Thread(target=client) for _ in range(clients)]
[t.start() for t in threads]
while len(answered) < wanted: time.sleep(0.01)
signalled = time.monotonic()
if mode == "kill":
    for each in tree:
        try: os.kill(each, signal.SIGKILL)
        except ProcessLookupError: pass
else:
    os.kill(pid, signal.SIGTERM)
while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "Z":
    time.sleep(0.05)
stop.set(); [t.join() for t in threads]
with database.connect(db).connect() as connection:
    query = select(database.scored.c.request_id, database.scored.c.row_key)
    stored = {f"{r}:{k}" for r, k in connection.execute(query)}
print(json.dumps({"answered": len(answered), "missing": len(set(answered) - stored),
                  "failed_in_flight": sum(1 for sent, _ in failed if sent < signalled),
                  "failed_after": sum(1 for sent, _ in failed if sent >= signalled), "refused_after": refused[0],
                  "stopped_s": time.monotonic() - signalled}))
"""

MALFORMED = [
    "this is not json",
    '{"records": []}',
    '{"records": [{"no_such_feature": 1}]}',
    '{"rows": [1, 2, 3]}',
]


class Served:
    """A server process (own session, so the whole tree is signalled) on a free port, ready when entered."""

    def __init__(self, project: Project, command: list[str], port: int, env: dict[str, str], health: str) -> None:
        self.project, self.command, self.port, self.env, self.health = project, command, port, env, health
        self.log = Path(tempfile.gettempdir()) / f"bench-serve-{port}.log"

    def __enter__(self) -> Self:
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=self.project.root,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        probe = (
            "import sys, time, urllib.request as u\n"
            "for _ in range(600):\n"
            "    try:\n"
            f"        u.urlopen('http://127.0.0.1:{self.port}{self.health}', timeout=2); sys.exit(0)\n"
            "    except Exception: time.sleep(0.5)\n"
            "sys.exit(1)"
        )
        subprocess.run([str(self.project.python), "-c", probe], check=True)
        return self

    def processes(self) -> dict[int, int]:
        """The server's live processes (its whole tree: BentoML's workers run in sessions of their own, so its
        process group is not all of it), each with its CPU time so far in clock ticks (user + system)."""
        children: dict[int, list[int]] = {}
        ticks: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rpartition(")")[2].split()
                except OSError:
                    continue
                children.setdefault(int(fields[1]), []).append(int(entry.name))
                ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        found, todo = {}, [self.process.pid]
        while todo:
            pid = todo.pop()
            found[pid] = ticks.get(pid, 0)
            todo.extend(children.get(pid, []))
        return found

    def cpu_seconds(self) -> float:
        """CPU time of the server's processes so far. Per request it is the figure a busy machine moves least."""
        return sum(self.processes().values()) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(120)
        self._log.close()


def bento(project: Project, port: int, db: Path, src: Path | None = None) -> Served:
    """A, as `make serve` runs it (two workers), its serving layer in ``db``; from another source tree with ``src``."""
    env = project.env | {"SERVING_DB_URL": f"sqlite:///{db}", "SERVING_FOLLOW_CHAMPION": "0"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [str(project.python), "-m", "bentoml", "serve", f"{project.package}.serving.service:Predictor"]
    return Served(project, [*command, "--host", "127.0.0.1", "--port", str(port)], port, env, "/readyz")


def mlflow_serve(project: Project, port: int) -> Served:
    """B: `mlflow models serve` of the same champion, in the project's environment."""
    command = [str(project.python.parent / "mlflow"), "models", "serve", "-m", f"models:/{project.model_name}@champion"]
    command += ["-h", "127.0.0.1", "-p", str(port), "--env-manager", "local"]
    return Served(project, command, port, project.env, "/ping")


def floor(project: Project, port: int, work: Path) -> Served:
    (work / "empty_service.py").write_text(EMPTY_SERVICE)
    env = project.env | {"PYTHONPATH": str(work)}
    command = [str(project.python), "-m", "bentoml", "serve", "empty_service:Empty", "--host", "127.0.0.1"]
    return Served(project, [*command, "--port", str(port)], port, env, "/readyz")


def load(
    served: Served,
    path: str,
    bodies: list[str],
    seconds: float,
    connections: int,
    *,
    warmup: float = 3,
    delay_ms: float = 0,
) -> dict:
    """Requests/s, p50, p99 (ms) and errors of ``connections`` keep-alive clients posting ``bodies`` in turn."""
    if shutil.which("wrk"):
        script = WRK_SCRIPT.replace("__BODIES__", ", ".join(f"[==[{b}]==]" for b in bodies))
        script = script.replace("__DELAY__", f"delay = function() return {delay_ms:.0f} end" if delay_ms else "")
        file = Path(tempfile.mkstemp(suffix=".lua")[1])
        file.write_text(script)
        url = f"http://127.0.0.1:{served.port}{path}"
        threads = str(min(connections, 2))
        if warmup:
            subprocess.run(
                ["wrk", "-t", threads, "-c", str(connections), "-d", f"{max(1, round(warmup))}s", "-s", str(file), url],
                check=True,
                capture_output=True,
            )
        cpu = served.cpu_seconds()
        done = subprocess.run(
            ["wrk", "-t", threads, "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "-s", str(file), url],
            check=True,
            capture_output=True,
            text=True,
        )
        cpu = served.cpu_seconds() - cpu
        r = json.loads(done.stdout.strip().splitlines()[-1])
        return {
            "rps": r["requests"] / r["seconds"],
            "p50": r["p50"],
            "p99": r["p99"],
            "errors": r["non2xx"] + r["socket"],
            "requests": r["requests"],
            "cpu_ms": 1000 * cpu / max(1, r["requests"]),
        }
    if delay_ms:
        raise SystemExit("the malformed mix needs wrk (apt-get install wrk)")
    cpu = served.cpu_seconds()  # the generator's warm-up included: a rough figure without wrk
    out = json.loads(
        served.project.run_python(
            LOAD, "127.0.0.1", str(served.port), path, bodies[0], str(seconds), str(connections), str(warmup)
        )
    )
    return out | {"cpu_ms": 1000 * (served.cpu_seconds() - cpu) / max(1, out["requests"])}


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
    if args.only == "batch":
        batch(project, args, work)
        return
    split = json.loads(
        project.run_python(
            "import json, pandas as pd; names = [f['name'] for f in json.load(open('data/processed/features.json'))"
            "['features']]; print(pd.read_parquet('data/processed/test.parquet')[names].sample(100, replace=True, "
            "random_state=0).to_json(orient='split', index=False))"
        )
    )
    records = [dict(zip(split["columns"], row, strict=True)) for row in split["data"]]
    bodies = {
        1: (json.dumps({"records": records[:1]}), json.dumps({"dataframe_split": split | {"data": split["data"][:1]}})),
        100: (json.dumps({"records": records}), json.dumps({"dataframe_split": split})),
    }
    generator = "wrk" if shutil.which("wrk") else "threaded Python generator (wrk not installed)"
    uptime = [os.getloadavg()]
    runs: dict[tuple[str, int], list[dict]] = {}
    for round_ in range(args.rounds):
        for size, connections in ((1, 16), (100, 4)):
            tag = f"{round_}-{size}"
            servers = [("A", lambda p, t=tag: bento(project, p, work / f"a-{t}.db"), "/predict", 0)]
            if args.old_src:
                before = (
                    "A before",
                    lambda p, t=tag: bento(project, p, work / f"o-{t}.db", args.old_src),
                    "/predict",
                    0,
                )
                servers.append(before)
            servers.append(("B", lambda p: mlflow_serve(project, p), "/invocations", 1))
            if size == 1:
                servers.append(("floor", lambda p: floor(project, p, work), "/predict", 0))
            for name, start, path, which in servers:
                with start(free_port()) as served:
                    r = load(served, path, [bodies[size][which]], args.seconds, connections)
                runs.setdefault((name, size), []).append(r | {"rows": r["rps"] * size})
                print(f"round {round_ + 1} {name} {size} row(s) c{connections}: {r}", flush=True)
        uptime.append(os.getloadavg())
    paths = model_path(project, records[0], min(args.seconds, 5))

    # 10% malformed: A with and without a malformed stream beside the valid one, alternated.
    mixed: dict[str, list[dict]] = {"valid only": [], "with 10% malformed": []}
    log_cost = {}
    for round_ in range(args.rounds):
        with bento(project, free_port(), work / f"m-{round_}.db") as served:
            mixed["valid only"].append(load(served, "/predict", [bodies[1][0]], args.seconds, 16))
            delay_ms = max(1.0, 1000 * 9 / mixed["valid only"][-1]["rps"])  # one malformed per nine valid
            before = served.log.stat().st_size
            bad: dict = {}
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
            "malformed": bad.get("requests", 0),
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
            out = project.run_python(
                STOP_UNDER_LOAD,
                str(served.port),
                bodies[1][0],
                str(served.process.pid),
                mode,
                f"sqlite:///{db}",
                "500",
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
                f"{r['p50']:.1f} | {r['p99']:.1f} | {r['p99'] / r['p50']:.1f} | {r['errors']} | {r['cpu_ms']:.2f} |"
            )

    def mean(name: str, size: int, key: str = "rps") -> float:
        rs = runs.get((name, size), [])
        return sum(r[key] for r in rs) / len(rs) if rs else float("nan")

    print(
        f"\nA/B single-row: {mean('A', 1) / mean('B', 1):.2f}x (target >= 10x); A/floor: "
        f"{mean('A', 1) / mean('floor', 1):.2f}x (target >= 0.8x); A/B 100 rows: "
        f"{mean('A', 100) / mean('B', 100):.2f}x (target >= 3x)"
        + (f"; A/A-before single-row: {mean('A', 1) / mean('A before', 1):.2f}x" if args.old_src else "")
    )
    print(
        f"server CPU per request, B/A: single-row {mean('B', 1, 'cpu_ms') / mean('A', 1, 'cpu_ms'):.2f}x, "
        f"100 rows {mean('B', 100, 'cpu_ms') / mean('A', 100, 'cpu_ms'):.2f}x; A/floor single-row "
        f"{mean('A', 1, 'cpu_ms') / mean('floor', 1, 'cpu_ms'):.2f}x (the same work in less CPU: what a busy machine "
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
    print("\nStopping A mid-load (8 clients, signalled after 500 answers):\n")
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


def batch(project: Project, args: argparse.Namespace, work: Path) -> None:
    """`python -m <package> batch` (and the same from --old-src) vs `mlflow models predict`, alternated, on --rows
    rows sampled from the holdout; each into a new SQLite serving layer. Wall and CPU seconds of whole commands."""
    champion = f"models:/{project.model_name}@champion"
    parquet, csv = work / "batch.parquet", work / "batch.csv"
    memory = json.loads(
        project.run_python(BATCH_INPUT, project.tracking_uri, champion, str(args.rows), str(parquet), str(csv))
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
    server = postgres()
    if server is not None:
        url, stop = server
        try:
            _, _, out = timed_child(command, project.root, project.env | {"SERVING_DB_URL": url})
            postgres_loop = json.loads(out.strip().splitlines()[-1])["scoring_rows_per_second"]
        finally:
            subprocess.run(stop, check=False, capture_output=True)

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
        f"\nbatch whole command vs mlflow models predict: {mlflow[0] / ours[0]:.2f}x wall, {mlflow[1] / ours[1]:.2f}x "
        f"CPU (target >= 5x)"
        + (
            f"; vs --old-src: {best['the same from --old-src'][0] / ours[0]:.2f}x wall, "
            f"{best['the same from --old-src'][1] / ours[1]:.2f}x CPU"
            if args.old_src
            else ""
        )
    )


if __name__ == "__main__":
    main()
