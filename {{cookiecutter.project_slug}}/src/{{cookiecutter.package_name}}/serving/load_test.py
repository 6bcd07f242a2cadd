"""``make profile``: a short load test of the real service on loopback, for sizing its deployment (sizing.py).

The service is the one ``make serve`` runs: ``bentoml serve <package>.serving.service:Predictor`` on a free
127.0.0.1 port, with the champion imported into the project's BentoML store first; its predictions go to a
throwaway SQLite serving layer (never the project's), and it is stopped with SIGTERM afterwards. ``concurrency``
clients, each on its own keep-alive connection, send single-row requests (the holdout's rows in turn) for
``WARMUP_S``, which is not counted, then for ``seconds``. Measured over those seconds: the answered requests and the
latency each client saw; the CPU time of the service's processes (BentoML's supervisor and its workers, via psutil)
and their resident memory together, sampled every ``SAMPLE_S`` (the largest sum is kept).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import Config
from ..core.errors import UserError
from ..core.reports import LoadTest
from ..data import tables

log = logging.getLogger(__name__)

WARMUP_S = 1.0  # load before measuring: the first requests of each worker compile and allocate
SAMPLE_S = 0.1  # resident memory sampling period
READY_TIMEOUT_S = 240.0  # a cold start on a busy machine: imports, the model, the database
MIB = 2**20


@dataclass
class Service:
    """A running service process (its own process group) and where it answers."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tree(self) -> list[Any]:
        """The service's processes: BentoML's supervisor and every worker it started."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, path: str, timeout: float = 2.0) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@contextmanager
def running_service(workers: int, scratch: Path) -> Iterator[Service]:
    """The project's service on loopback, ready (``/readyz`` answers 200); stopped with SIGTERM afterwards."""
    port = free_port()
    package = __package__.rsplit(".", 1)[0]
    env = os.environ | {
        "SERVING_DB_URL": f"sqlite:///{scratch / 'serving.db'}",  # a throwaway serving layer, not the project's
        "SERVING_FOLLOW_CHAMPION": "0",
        "SERVING_WORKERS": str(workers),
    }
    command = [sys.executable, "-m", "bentoml", "serve", f"{package}.serving.service:Predictor"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    output = scratch / "service.log"
    with output.open("wb") as stream:
        process = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(process, port, output)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _answers(port, "/readyz"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = output.read_text(errors="replace").strip().splitlines()[-15:]
                state = f"exited {process.returncode}" if process.poll() is not None else "is not ready"
                raise UserError(f"the service {state} before answering /readyz:\n" + "\n".join(tail))
            time.sleep(0.25)
        yield service
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def request_bodies(cfg: Config, names: list[str], limit: int = 1000) -> list[bytes]:
    """Single-record /predict bodies from the holdout's rows (its feature columns; missing values as null)."""
    frame = tables.read_table(cfg.paths.holdout)[names].head(limit)
    bodies = []
    for row in frame.to_dict("records"):
        record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        bodies.append(json.dumps({"records": [record]}, default=str).encode())
    if not bodies:
        raise UserError(f"{cfg.paths.holdout} has no rows to send")
    return bodies


@dataclass
class Tally:
    """What the clients saw while the load was measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(port: int, bodies: list[bytes], start: int, until: float, measure_from: float, tally: Tally) -> None:
    """One keep-alive connection sending single-row requests until ``until``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    mine: list[float] = []
    errors, index = 0, start
    try:
        while (sent := time.perf_counter()) < until:
            try:
                connection.request("POST", "/predict", bodies[index % len(bodies)], headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            index += 1
            if sent >= measure_from:
                if ok:
                    mine.append(time.perf_counter() - sent)
                else:
                    errors += 1
    finally:
        connection.close()
    with tally.lock:
        tally.latencies += mine
        tally.errors += errors


def _cpu_seconds(processes: list[Any]) -> dict[int, float]:
    found = {}
    for process in processes:
        with suppress(Exception):  # a worker may exit in between
            times = process.cpu_times()
            found[process.pid] = times.user + times.system
    return found


def drive(service: Service, bodies: list[bytes], seconds: float, concurrency: int, workers: int) -> LoadTest:
    """Load the service from ``concurrency`` clients; measure it (the module docstring)."""
    tally = Tally()
    started = time.perf_counter()
    measure_from = started + WARMUP_S
    until = measure_from + seconds
    clients = [
        threading.Thread(target=_client, args=(service.port, bodies, i * 7, until, measure_from, tally), daemon=True)
        for i in range(concurrency)
    ]
    for client in clients:
        client.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    processes = service.tree()
    before, peak = _cpu_seconds(processes), 0.0
    while time.perf_counter() < until:
        peak = max(peak, sum(_rss(p) for p in processes))
        time.sleep(SAMPLE_S)
    after = _cpu_seconds(processes)
    for client in clients:
        client.join()
    cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    answered = len(tally.latencies)
    if answered == 0:
        raise UserError(f"the service answered no request in {seconds:g}s ({tally.errors} failed): see its log")
    p50, p99 = np.percentile(np.array(tally.latencies) * 1000, [50, 99])
    return LoadTest(
        seconds=seconds,
        concurrency=concurrency,
        workers=workers,
        requests=answered,
        errors=tally.errors,
        requests_per_s=round(answered / seconds, 1),
        latency_p50_ms=round(float(p50), 2),
        latency_p99_ms=round(float(p99), 2),
        cpu_ms_per_request=round(cpu * 1000 / answered, 3),
        cpu_cores=round(cpu / seconds, 3),
        rss_mb=round(peak / MIB, 1),
    )


def _rss(process: Any) -> int:
    try:
        return int(process.memory_info().rss)
    except Exception:  # a worker that exited in between
        return 0


def run(cfg: Config, names: list[str], *, seconds: float, concurrency: int, workers: int) -> LoadTest:
    """Start the service, load it, stop it; what was measured."""
    bodies = request_bodies(cfg, names)
    with tempfile.TemporaryDirectory(prefix="load-test-") as scratch, running_service(workers, Path(scratch)) as svc:
        log.info("service ready on port %d: %d client(s) for %gs (after %gs of warm-up)", svc.port, concurrency,
                 seconds, WARMUP_S)  # fmt: skip
        return drive(svc, bodies, seconds, concurrency, workers)
