"""Servers of a project's champion for the serving benchmarks (benchmarks/serving.py, benchmarks/replicas.py): the
BentoML service as `make serve` runs it, `mlflow models serve` of the same champion, BentoML's empty endpoint (the
framework's floor), and the load put on them (wrk when installed, else benchmarks/in_project/http_load.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Self

from benchmarks.project import IN_PROJECT, Project
from tools import servers

# wrk's script: the request bodies in turn, and one JSON line of results when done (latencies in ms).
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


class ServedProject:
    """A project whose champion is served: its tracking URI (absolute) and model name, and the environment its
    servers and scripts get (its own BentoML store and MLflow registry)."""

    def __init__(self, project: Project) -> None:
        self.project, self.root, self.python, self.package = project, project.root, project.python, project.package
        uri, self.model_name = json.loads(project.script("tracking_settings", self.package))
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            uri = f"sqlite:///{self.root / uri.removeprefix('sqlite:///')}"
        self.tracking_uri: str = uri
        self.env = project.env(BENTOML_HOME=str(self.root / ".bentoml"), MLFLOW_TRACKING_URI=uri)

    def script(self, name: str, *args: str) -> str:
        """benchmarks/in_project/<name>.py in the project's Python and environment (its package as the first
        argument where the script takes one); its last line of output."""
        return self.project.script(name, *args, env=self.env)

    def import_champion(self) -> None:
        """The registry's champion into the project's BentoML store (what `make serve` does first)."""
        command = [str(self.python), "-m", self.package, "import-model"]
        subprocess.run(command, cwd=self.root, env=self.env, check=True, capture_output=True)


class Served:
    """A server process (own session, so the whole tree is signalled) on a free port, ready when entered."""

    def __init__(self, project: ServedProject, command: list[str], port: int, env: dict[str, str], health: str) -> None:
        self.project, self.command, self.port, self.env, self.health = project, command, port, env, health
        self.log = Path(tempfile.gettempdir()) / f"bench-serve-{port}.log"
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        ready = f"http://127.0.0.1:{self.port}{self.health}"
        self.process = self._stack.enter_context(
            servers.serving(self.command, self.project.root, ready, self.log, env=self.env, timeout=300)
        )
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

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


def bento(
    project: ServedProject, port: int, db: str | Path, src: Path | None = None, workers: int | None = None
) -> Served:
    """A, as `make serve` runs it (two workers unless ``workers``), its serving layer ``db`` (a SQLite file or a
    database URL); from another source tree with ``src``."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    env = project.env | {"SERVING_DB_URL": url, "SERVING_FOLLOW_CHAMPION": "0"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    if workers is not None:
        env["SERVING_WORKERS"] = str(workers)
    command = [str(project.python), "-m", "bentoml", "serve", f"{project.package}.serving.service:Predictor"]
    return Served(project, [*command, "--host", "127.0.0.1", "--port", str(port)], port, env, "/readyz")


def mlflow_serve(project: ServedProject, port: int) -> Served:
    """B: `mlflow models serve` of the same champion, in the project's environment."""
    command = [str(project.python.parent / "mlflow"), "models", "serve", "-m", f"models:/{project.model_name}@champion"]
    command += ["-h", "127.0.0.1", "-p", str(port), "--env-manager", "local"]
    return Served(project, command, port, project.env, "/ping")


def floor(project: ServedProject, port: int) -> Served:
    """The framework's floor: benchmarks/in_project/empty_service.py."""
    env = project.env | {"PYTHONPATH": str(IN_PROJECT)}
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
) -> dict[str, Any]:
    """Requests/s, p50, p99 (ms), errors, requests and the server's CPU ms per request of ``connections`` keep-alive
    clients posting ``bodies`` in turn (pausing ``delay_ms`` between requests)."""
    if shutil.which("wrk"):
        return wrk_load(served, path, bodies, seconds, connections, warmup=warmup, delay_ms=delay_ms)
    cpu = served.cpu_seconds()  # the generator's warm-up included: a rough figure without wrk
    arguments = [json.dumps(bodies), str(seconds), str(connections), str(warmup), str(delay_ms)]
    out: dict[str, Any] = json.loads(
        served.project.script("http_load", "127.0.0.1", str(served.port), path, *arguments)
    )
    return out | {"cpu_ms": 1000 * (served.cpu_seconds() - cpu) / max(1, out["requests"])}


def wrk_load(
    served: Served, path: str, bodies: list[str], seconds: float, connections: int, *, warmup: float, delay_ms: float
) -> dict[str, Any]:
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
        "sent": r["requests"],
        "cpu_ms": 1000 * cpu / max(1, r["requests"]),
    }
