"""Every benchmark runs: `python -m benchmarks.<name> --smoke` (tiny sizes) exits 0 and prints its tables.

Fast: each one's command line loads (`--help`). Slow: each smoke run on the shared default project, last among its
users (conftest.DEFAULT_PROJECT_ORDER); the two that run the whole pipeline (pipeline, tracking_server) on a clone
of the set-up project that shares its .venv and searches one candidate; xgboost_device in the GPU project's Python. Nothing here
asserts a speed (the figures are a smoke run's): only that the script works and prints what it is for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .projects import TEMPLATE, edit_params, lean_search

BENCHMARKS = sorted(
    p.stem for p in (TEMPLATE / "benchmarks").glob("*.py") if p.stem not in ("__init__", "project", "served")
)
ROW = re.compile(r"^\|.*\|$")


def benchmark(name: str, *args: str, python: str = sys.executable, timeout: float = 1200) -> str:
    """`python -m benchmarks.<name> ARGS` from the template's root; its output (the test fails on a non-zero exit)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(
        [python, "-m", f"benchmarks.{name}", *args],
        cwd=TEMPLATE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def table(output: str, header: str) -> list[list[str]]:
    """The rows under the markdown table whose header line starts with ``header`` (its separator line skipped)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(header)), None)
    assert start is not None, f"no table {header!r} in:\n{output[-4000:]}"
    rows = []
    for line in lines[start + 2 :]:
        if not ROW.match(line):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def numbers(rows: list[list[str]], column: int) -> list[float]:
    """Column ``column`` of ``rows`` as numbers (thousands separators dropped); fails on a cell that is not one."""
    return [float(row[column].replace(",", "")) for row in rows]


@pytest.fixture
def lean_clone(set_up_project: Path, tmp_path: Path) -> Path:
    """A git clone of the set-up default project that uses its .venv (the package is installed editable from that
    project's src/: the same code) and searches one candidate: for benchmarks that run the whole pipeline."""
    clone = tmp_path / "my-mlops-project"
    subprocess.run(["git", "clone", "-q", str(set_up_project), str(clone)], check=True)
    (clone / ".venv").symlink_to(set_up_project / ".venv")
    edit_params(clone, lean_search)
    return clone


def test_every_benchmark_has_a_smoke_mode_and_a_smoke_test() -> None:
    smoke_tests = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(BENCHMARKS) <= smoke_tests, f"no smoke test for {sorted(set(BENCHMARKS) - smoke_tests)}"
    assert len(BENCHMARKS) == 13, BENCHMARKS
    for name in BENCHMARKS:
        assert "--smoke" in benchmark(name, "--help"), name


@pytest.mark.slow
def test_pipeline(lean_clone: Path) -> None:
    out = benchmark("pipeline", "--project", str(lean_clone), "--smoke")
    steps = table(out, "| step | seconds |")
    assert len(steps) == 7 and steps[0][0] == "make pipeline (6 stages, first run)" and numbers(steps, 1)[0] > 0
    assert len(table(out, "| stage | imports (s) |")) == 6
    assert len(table(out, "| stage | wall (s) | CPU user+sys (s) |")) == 6 + 3 + 2


@pytest.mark.slow
def test_search(default_project: Path) -> None:
    out = benchmark("search", "--project", str(default_project), "--smoke")
    rows = table(out, "| measure | seconds | share of search |")
    assert len(rows) == 4 and numbers(rows, 1)[0] > 0
    assert "1 trials (logistic_regression)" in out


@pytest.mark.slow
def test_automl(default_project: Path) -> None:
    out = benchmark("automl", "--project", str(default_project), "--smoke")
    rows = table(out, "| table | rows x cols | method |")
    assert [(row[0], row[2]) for row in rows] == [
        ("breast_cancer", "auto"),
        ("breast_cancer", "grid"),
        ("generated", "auto"),
        ("generated", "grid"),
    ]
    assert all(0.5 < float(row[4].split()[1]) <= 1 for row in rows), rows
    assert "load average" in out


@pytest.mark.slow
def test_monitor(default_project: Path) -> None:
    params = (default_project / "params.yaml").read_text()
    out = benchmark("monitor", "--project", str(default_project), "--smoke")
    assert "serving layer: 2,000 served rows, 100 labelled" in out
    rows = table(out, "| make monitor over the window |")
    assert len(rows) == 3 and all(peak > 0 for peak in numbers(rows, 3))
    assert (default_project / "params.yaml").read_text() == params  # the policy edits are undone


@pytest.mark.slow
def test_serving(default_project: Path) -> None:
    out = benchmark("serving", "--project", str(default_project), "--smoke")
    realtime = table(out, "| server | request | clients |")
    assert [(row[0], row[1]) for row in realtime] == [
        ("A", "1 row(s)"),
        ("B", "1 row(s)"),
        ("floor", "1 row(s)"),
        ("A", "100 row(s)"),
        ("B", "100 row(s)"),
    ]
    assert all(rps > 0 for rps in numbers(realtime, 3))
    assert len(table(out, "| runtime: input | p50 µs |")) == 4
    assert len(table(out, "| load | valid requests/s |")) == 2
    stops = table(out, "| signal | answered |")
    assert [row[0] for row in stops] == ["SIGKILL (whole tree)", "SIGTERM"] and all(numbers(stops, 1))
    batch = table(out, "| path | wall s |")
    assert any(row[0].startswith("in-memory model.predict") for row in batch)


@pytest.mark.slow
def test_replicas(default_project: Path) -> None:
    out = benchmark("replicas", "--project", str(default_project), "--smoke")
    rows = table(out, "| replicas (1 worker each) |")
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(answered > 0 for answered in numbers(rows, 4))


@pytest.mark.slow
def test_tracking_server(lean_clone: Path) -> None:
    out = benchmark("tracking_server", "--project", str(lean_clone), "--smoke")
    rows = table(out, "| tracking | pipelines |")
    assert [row[1] for row in rows] == ["1", "1"] and all(seconds > 0 for seconds in numbers(rows, 3))


@pytest.mark.slow
def test_batch_scaling(spark_project: Path) -> None:
    out = benchmark("batch_scaling", "--project", str(spark_project), "--smoke")
    rows = table(out, "| engine | rows |")
    assert [(row[0], row[1]) for row in rows] == [
        ("in-process", "2,000"),
        ("in-process", "4,000"),
        ("spark local[2]", "2,000"),
    ]


@pytest.mark.slow
def test_batch_start(default_project: Path) -> None:
    out = benchmark("batch_start", str(default_project), "--smoke")
    rows = table(out, "| project | runs |")
    assert len(rows) == 1 and rows[0][1] == "1" and numbers(rows, 2)[0] > 0


@pytest.mark.slow
def test_outages(default_project: Path) -> None:
    out = benchmark("outages", "--project", str(default_project), "--smoke")
    (serving,) = table(out, "| outage | requests |")
    assert serving[0] == "SQLite write lock held by another client" and serving[6] == "0", serving  # acknowledged_lost
    (tracking,) = table(out, "| tracking server | failed after s |")
    assert tracking[0] == "killed" and tracking[6] == "ok" and tracking[7] == "0", tracking  # none left RUNNING


@pytest.mark.slow
def test_onnx_parity(default_project: Path) -> None:
    out = benchmark("onnx_parity", "--project", str(default_project), "--smoke")
    rows = table(out, "| table | family |")
    assert [row[0] for row in rows].count("messy events") == 5 and len(rows) == 20
    assert all(row[5] in ("held", "failed") for row in rows) and all(float(row[4]) >= 0 for row in rows)


@pytest.mark.slow
def test_edge(default_project: Path) -> None:
    out = benchmark("edge", "--project", str(default_project), "--smoke")
    rows = table(out, "| path | installed MiB |")
    assert [row[0] for row in rows] == ["edge bundle (predict.py, fresh venv)", "make batch (project .venv)"]
    assert all(rate > 0 for rate in numbers(rows, 3))


@pytest.mark.slow
def test_xgboost_device(gpu_project: Path) -> None:
    out = benchmark("xgboost_device", "--smoke", python=str(gpu_project / ".venv" / "bin" / "python"))
    rows = table(out, "| device | fit (s) |")
    assert rows and rows[0][0].startswith("cpu") and 0.5 <= numbers(rows, 3)[0] <= 1.0
