"""The batch command's fixed cost: the whole `python -m <package> batch` on a 5-row file (imports, registry lookup,
model load, one tiny write), with the champion already in the project's BentoML store.

    python -m benchmarks.batch_start PROJECT [PROJECT ...] [--runs 5] [--old-src SRC] [--smoke]

Each PROJECT is a baked, set-up project whose pipeline has run (`make setup pipeline`); several projects (say, one
baked before a change and one after) are measured alternately in one run, so they share the machine's load. With
--old-src, the first PROJECT also runs from that source tree (PYTHONPATH; e.g. a copy of its src/ before a change).
Prints a table: median and best wall seconds, median CPU seconds (user + system), and whether MLflow or BentoML
was imported (benchmarks/in_project/run_reporting_imports.py). Not a test; --smoke runs once
(tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.project import IN_PROJECT, Project


def one_run(project: Project, rows: Path, db: Path, batch_id: str, src: Path | None) -> tuple[float, float, str]:
    """Wall and CPU seconds of one batch command, and the heavy packages it imported."""
    probe = [str(project.python), str(IN_PROJECT / "run_reporting_imports.py"), project.package]
    command = [*probe, "batch", "--input", str(rows), "--batch-id", batch_id]
    env = project.env(SERVING_DB_URL=f"sqlite:///{db}") | ({"PYTHONPATH": str(src)} if src else {})
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, check=False, cwd=project.root, env=env, capture_output=True, text=True)
    seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"batch failed in {project.root}:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, done.stderr.strip().splitlines()[-1].removeprefix("imported:").strip() or "neither"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-src", type=Path, help="the first project also from this source tree (before/after)")
    parser.add_argument("--smoke", action="store_true", help="one run: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 1
    projects = [Project.at(p) for p in args.projects]
    work = Path(tempfile.mkdtemp(prefix="batch-start-"))
    for index, project in enumerate(projects):  # the champion into each store once (not timed)
        env = project.env(SERVING_DB_URL=f"sqlite:///{work / f'warm-{index}.db'}")
        command = [str(project.python), "-m", project.package, "import-model"]
        subprocess.run(command, cwd=project.root, env=env, check=True, capture_output=True)
    rows = work / "rows.parquet"
    first = projects[0]
    head = f"import pandas as pd; pd.read_parquet('data/processed/test.parquet').head(5).to_parquet({str(rows)!r})"
    subprocess.run([str(first.python), "-c", head], cwd=first.root, env=first.env(), check=True)
    contenders: list[tuple[str, Project, Path | None]] = [(str(p.root), p, None) for p in projects]
    if args.old_src:
        contenders.insert(1, (f"{first.root} from {args.old_src}", first, args.old_src.resolve()))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in contenders}
    imported: dict[str, str] = {}
    load_before = os.getloadavg()
    for run in range(args.runs):
        for index, (name, project, src) in enumerate(contenders):
            seconds, cpu, heavy = one_run(project, rows, work / f"serving-{index}.db", f"start-{run}", src)
            times[name].append((seconds, cpu))
            imported[name] = heavy
    load_after = os.getloadavg()
    print(
        f"\nPython {sys.version.split()[0]}, {os.cpu_count()} cores; load average (1/5/15 min) before: "
        f"{' / '.join(f'{x:.2f}' for x in load_before)}, after: {' / '.join(f'{x:.2f}' for x in load_after)}\n"
    )
    print(
        "| project | runs | median wall s | best wall s | median CPU s | imported |\n| --- | ---: | ---: | ---: | ---: | --- |"
    )
    for name, found in times.items():
        walls, cpus = [w for w, _ in found], [c for _, c in found]
        print(
            f"| {name} | {len(found)} | {statistics.median(walls):.2f} | {min(walls):.2f} | "
            f"{statistics.median(cpus):.2f} | {imported[name]} |"
        )


if __name__ == "__main__":
    main()
