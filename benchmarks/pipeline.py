"""Bake the default project and time its pipeline: setup, full `make pipeline` (per stage), a one-parameter change in
`train`, no-op `dvc repro`, each stage's import time, and each stage's wall and CPU seconds run on its own (CPU is
the figure to compare on a shared machine, whose load stretches the wall clock).

    python -m benchmarks.pipeline [--keep DIR] [--project DIR] [--smoke]

--project times an already set-up project instead of baking one (its pipeline outputs are removed first, and its
MLflow store when it is the default SQLite file). Prints tables (seconds, this machine, with the load average).
Not a test: the numbers go into the README. --smoke searches one logistic regression on 3 folds (params.yaml
edited for the run, then restored) to prove the script runs (tests/test_benchmarks.py, on a clone of the default
project).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import yaml

from benchmarks.project import TEMPLATE, Project, load_average
from tools.environment import project_env

STAGE_LINE = re.compile(r"Running stage '([^']+)'")
SEARCH_LINE = re.compile(r"in ([0-9.]+) s of search")  # train's log line: the search itself


CV_FOLDS = re.compile(r"^(\s*cv_folds: )(\d+)$", re.MULTILINE)


def one_fold_less(params: str) -> str:
    """params.yaml with train.cv_folds one lower: the one-parameter change the benchmark times."""
    return CV_FOLDS.sub(lambda m: f"{m[1]}{int(m[2]) - 1}", params, count=1)


@contextmanager
def lean_search(project: Path) -> Iterator[None]:
    """params.yaml with one quick candidate (a logistic regression on 3 folds) inside the block, restored after."""
    params = project / "params.yaml"
    original = params.read_text()
    lean = yaml.safe_load(original)
    lean["train"]["cv_folds"] = 3
    lean["train"]["search"]["candidates"] = [{"family": "logistic_regression", "params": {"C": [1.0]}}]
    params.write_text(yaml.safe_dump(lean, sort_keys=False))
    try:
        yield
    finally:
        params.write_text(original)


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        command,
        cwd=cwd,
        env=project_env(cwd),
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started


def staged(command: list[str], cwd: Path) -> tuple[float, dict[str, float]]:
    """Run a `dvc repro`-like command; the whole time and each stage's (from its "Running stage" line to the next),
    and under "search" the seconds train spent in the model search itself (its log line)."""
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    search = float("nan")
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=project_env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            output.append(line)
            found = STAGE_LINE.search(line)
            if found:
                marks.append((found.group(1), time.perf_counter()))
            searched = SEARCH_LINE.search(line)
            if searched:
                search = float(searched.group(1))
    total = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{''.join(output)[-3000:]}")
    ends = [t for _, t in marks[1:]] + [started + total]
    return total, {name: end - begun for (name, begun), end in zip(marks, ends, strict=True)} | {"search": search}


STAGES = ("ingest", "validate", "prepare", "train", "evaluate", "register")


def cpu_timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one command; CPU is what a shared machine's load does not inflate."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=project_env(cwd), capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def stage_cpu(project: Path) -> dict[str, tuple[float, float]]:
    """Each stage run on its own (`python -m <package> <stage>`, no DVC) from a never-run pipeline, then train,
    evaluate and register again after train.cv_folds changed (keys ``<stage> (change)``): wall and CPU seconds."""
    package, python = Project.at(project).package, str(project / ".venv" / "bin" / "python")
    reset(project)
    found = {stage: cpu_timed([python, "-m", package, stage], project) for stage in STAGES}
    params = project / "params.yaml"
    original = params.read_text()
    params.write_text(one_fold_less(original))
    try:
        for stage in STAGES[3:]:
            found[f"{stage} (change)"] = cpu_timed([python, "-m", package, stage], project)
    finally:
        params.write_text(original)
    return found


def import_seconds(project: Path, stage: str) -> tuple[float, int]:
    """Seconds `python -X importtime -m <package> <stage> --help` spends importing, and how many modules it imports
    (the stage module itself included: the parser builds before the handler runs, so this imports the stage)."""
    package = Project.at(project).package
    code = (
        f"import sys, time; t = time.perf_counter(); import {package}.__main__, {package}.stages.{stage}; "
        "print(time.perf_counter() - t, len(sys.modules))"
    )
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", code],
        cwd=project,
        env=project_env(project),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def reset(project: Path) -> None:
    """Back to a never-run pipeline: no outputs, no lock, no runs or registry (the default SQLite store)."""
    for name in (
        "dvc.lock",
        "data/raw",
        "data/processed",
        "reports",
        "models",
        "mlflow.db",
        "mlruns",
        "mlartifacts",
        ".bentoml",
        ".dvc/cache/runs",  # DVC's run cache would restore stages instead of running them
    ):
        path = project / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (project / "reports").mkdir(exist_ok=True)
    (project / "models").mkdir(exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="bake into this folder and keep it")
    parser.add_argument("--project", type=Path, help="time this set-up project instead of baking one")
    parser.add_argument("--smoke", action="store_true", help="a one-candidate search: prove the script runs (tests)")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    if args.project:
        project = args.project.resolve()
        reset(project)
    else:
        out = args.keep or Path(tempfile.mkdtemp(prefix="mlops-bench-"))
        out.mkdir(parents=True, exist_ok=True)
        bake = timed([sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out)], out)
        project = out / "my-mlops-project"
        rows += [
            ("bake (cookiecutter + git commit)", bake),
            ("make setup (uv, lock file)", timed(["make", "setup"], project)),
        ]
    with lean_search(project) if args.smoke else nullcontext():
        measure(project, rows)


def measure(project: Path, rows: list[tuple[str, float]]) -> None:
    """Time the pipeline of a set-up project whose pipeline never ran; print the tables (after ``rows``)."""
    load_before = load_average()
    imports = {stage: import_seconds(project, stage) for stage in STAGES}
    first, stages = staged(["make", "pipeline"], project)
    rows.append(("make pipeline (6 stages, first run)", first))
    rows.append(("  of which the model search itself", stages["search"]))
    params = project / "params.yaml"
    original = params.read_text()
    params.write_text(one_fold_less(original))
    try:
        changed, train_stages = staged(["dvc", "repro"], project)
    finally:
        params.write_text(original)
    rows.append(("dvc repro after train.cv_folds changed (train, evaluate, register)", changed))
    rows.append(("  of which the model search itself", train_stages["search"]))
    rows.append(("dvc repro, train.cv_folds changed back", staged(["dvc", "repro"], project)[0]))
    rows.append(("dvc repro, nothing changed", timed(["dvc", "repro"], project)))
    rows.append(("dvc status", timed(["dvc", "status"], project)))
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average (1/5/15 min) before: {load_before}, after: {load_average()}\n"
    )
    print("| step | seconds |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")
    print(
        "\n| stage | imports (s) | modules | first run (s) | after a train param change (s) |\n"
        "| --- | ---: | ---: | ---: | ---: |"
    )
    for stage, (seconds, modules) in imports.items():
        again = f"{train_stages[stage]:.1f}" if stage in train_stages else "-"
        print(f"| {stage} | {seconds:.2f} | {modules} | {stages.get(stage, float('nan')):.1f} | {again} |")
    load_before = load_average()
    direct = stage_cpu(project)
    print(
        f"\nEach stage on its own (python -m, no DVC), load before: {load_before}, after: {load_average()}\n\n"
        "| stage | wall (s) | CPU user+sys (s) |\n| --- | ---: | ---: |"
    )
    for name, (wall, cpu) in direct.items():
        print(f"| {name} | {wall:.1f} | {cpu:.1f} |")
    for label, names in (("first run", STAGES), ("after the train change", [f"{s} (change)" for s in STAGES[3:]])):
        wall, cpu = (sum(direct[n][i] for n in names) for i in (0, 1))
        print(f"| all, {label} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
