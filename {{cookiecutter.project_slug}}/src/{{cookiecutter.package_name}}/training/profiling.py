"""A model's profile in the runtime that serves it: how fast it answers one row and many, how large it is, how long
it takes to load and how much memory a process holds once it has. register profiles every new version
(serving/footprint.py wires the runtime in; the figures are core/reports.Profile, tagged ``profile.*``), and the gate
holds it to the ``register.max_*`` budgets (core/gate.budget_checks).

- **Latency**: one holdout row per call, after ``WARMUP`` calls; p50 and p99 of each call's CPU time on the calling
  thread, over ``CALLS`` calls, or fewer (never under ``MIN_CALLS``) once they have cost ``LATENCY_S`` of CPU (a
  300-tree random forest on scikit-learn takes 6 ms a row: 500 rows would add 3 s to the stage). CPU time, not wall
  time: on a shared 2-core machine at load 8, the wall-clock p99 of a 0.065 ms model ranged 0.2 to 8 ms from run to
  run (the scheduler's time slices), its CPU-time p99 0.15 to 0.19 ms (0.4 to 0.5 ms at load 10 to 15, caches
  shared with more neighbours). The model runs on that one thread (onnxruntime's session has one; ``one_thread``
  holds scikit-learn's BLAS and OpenMP to one), so the figure is its latency on an idle core.
- **Throughput**: the whole holdout per call, rows per CPU second of that thread, over at least ``THROUGHPUT_S``.
- **Size, load time, memory**: the model's files; and a fresh process that loads them and prints the load's seconds
  and its peak resident memory (``report_footprint``), so the stage's own memory does not count.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..core.errors import UserError
from ..core.reports import Profile

WARMUP = 20  # single-row calls before any is timed: first calls allocate and fill caches
CALLS = 500  # timed single-row calls: p99 is then the 5th slowest
MIN_CALLS = 100  # ... unless they cost LATENCY_S first, but never fewer than this
LATENCY_S = 1.0  # CPU seconds of timed single-row calls
THROUGHPUT_S = 0.2  # CPU seconds of whole-holdout calls
PROBE_TIMEOUT_S = 300.0
MIB = 2**20


class ProfileError(UserError):
    """The model could not be profiled (its fresh process failed)."""


class Predictor(Protocol):
    """What serving/runtime.py's runtimes answer: probabilities (classification) or values, for one array per
    feature (labels follow from the probabilities by the schema's rule, a cost that does not depend on the model)."""

    def outputs(self, columns: Mapping[str, np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class Timing:
    latency_p50_ms: float
    latency_p99_ms: float
    rows_per_s: float


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and OpenMP (scikit-learn's) on the calling thread only, as onnxruntime's sessions are (onnx_export)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def timing(predictor: Predictor, columns: Mapping[str, np.ndarray]) -> Timing:
    """Single-row latency and whole-table throughput of ``predictor`` on ``columns`` (the module docstring)."""
    rows = len(next(iter(columns.values())))
    if rows == 0:
        raise ProfileError("no holdout rows to profile the model on")
    singles = [{name: column[i : i + 1] for name, column in columns.items()} for i in range(min(rows, CALLS))]
    clock = time.thread_time_ns
    with one_thread():
        for i in range(WARMUP):
            predictor.outputs(singles[i % len(singles)])
        spent: list[int] = []
        used = 0
        while len(spent) < CALLS and (len(spent) < MIN_CALLS or used < LATENCY_S * 1e9):
            row = singles[len(spent) % len(singles)]
            start = clock()
            predictor.outputs(row)
            spent.append(clock() - start)
            used += spent[-1]
        predictor.outputs(columns)
        total, scored = 0, 0
        while total < THROUGHPUT_S * 1e9:
            start = clock()
            predictor.outputs(columns)
            total += clock() - start
            scored += rows
    p50, p99 = np.percentile(np.array(spent), [50, 99]) / 1e6
    return Timing(float(p50), float(p99), scored / (max(total, 1) / 1e9))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB. On Linux the kernel's VmHWM: getrusage's ru_maxrss survives
    exec, so a process started by a larger one (the register stage, 390 MiB) would report its parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def report_footprint(load: Callable[[], object]) -> None:
    """In the fresh process: load the model and print one JSON line: the load's seconds and the peak RSS after it."""
    started = time.perf_counter()
    load()
    sys.stdout.write(json.dumps({"load_s": time.perf_counter() - started, "rss_mb": peak_rss_mb()}) + "\n")
    sys.stdout.flush()


def start_footprint(command: Sequence[str]) -> subprocess.Popen[str]:
    """Start the fresh process (its command ends in report_footprint); ``footprint`` reads its answer."""
    return subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def footprint(process: subprocess.Popen[str]) -> tuple[float, float]:
    """The load's seconds and the peak RSS (MiB) the fresh process printed; ProfileError when it failed."""
    try:
        out, err = process.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise ProfileError(f"loading the model in a fresh process took over {PROBE_TIMEOUT_S:.0f}s") from None
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise ProfileError(f"the model did not load in a fresh process (exit {process.returncode}): {last}")
    found = json.loads(lines[-1])
    return float(found["load_s"]), float(found["rss_mb"])


def files_size_mb(paths: Sequence[Path]) -> float:
    """The files' size on disk together, MiB (a folder counts every file in it)."""
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total / MIB


def profile(
    runtime: str,
    predictor: Predictor,
    columns: Mapping[str, np.ndarray],
    files: Sequence[Path],
    fresh_process: Sequence[str],
) -> Profile:
    """The whole profile: ``fresh_process`` loads the same ``files`` while this one times ``predictor`` (CPU time
    on this thread, which the other process does not disturb)."""
    process = start_footprint(fresh_process)
    try:
        timed = timing(predictor, columns)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    load_s, rss_mb = footprint(process)
    return Profile(
        runtime=runtime,
        latency_p50_ms=round(timed.latency_p50_ms, 4),
        latency_p99_ms=round(timed.latency_p99_ms, 4),
        rows_per_s=round(timed.rows_per_s, 1),
        size_mb=round(files_size_mb(files), 4),
        load_s=round(load_s, 4),
        rss_mb=round(rss_mb, 1),
        features=len(columns),
    )
