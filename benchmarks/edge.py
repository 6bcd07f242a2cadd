"""The edge bundle (`make edge`) against `make batch`, same machine, same run, same rows: what each needs on disk, its
cold start (the whole command on a 5-row file) and its rate on a larger file (the whole command), and its peak memory.

    python -m benchmarks.edge --project DIR [--rows 100000] [--runs 3] [--smoke]

DIR is a baked project after `make setup pipeline` whose champion has ONNX parity (the default one). The bundle is
installed into a fresh virtual environment from its requirements.txt alone (uv, hashes required, offline from uv's
cache); the batch job runs in the project's .venv and writes to a throwaway SQLite serving layer, as `make batch`
does. Both read the same CSV (the holdout repeated, without the target). The runs alternate, edge then batch, and
each figure is the median of --runs. --smoke: 1,000 rows, one run (tests/test_benchmarks.py). Prints markdown
tables and the machine's load. Not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.project import Project


def size_mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files) / 2**20


def timed(command: list[str], cwd: Path, env: dict[str, str], stdin: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command (os.wait4: this child's own rusage)."""
    with tempfile.TemporaryFile() as errors:
        with Path(stdin or os.devnull).open("rb") as source, Path(os.devnull).open("wb") as sink:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=cwd, env=env, stdin=source, stdout=sink, stderr=errors)
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{errors.read().decode(errors='replace')[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="1,000 rows, one run")
    args = parser.parse_args()
    rows, runs = (1_000, 1) if args.smoke else (args.rows, args.runs)
    project = Project.at(args.project)
    package, env, python = project.package, project.env(), str(project.python)
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    load_before = os.getloadavg()

    command = [python, "-m", package, "edge", "--out", str(work / "dist")]
    made = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, check=True)
    bundle = Path(made.stdout.strip().splitlines()[-1])
    venv = work / "edge-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = [str(project.python.parent / "uv"), "pip", "install", "--quiet", "--offline", "--require-hashes"]
    requirements = ["--python", str(venv / "bin" / "python"), "-r", str(bundle / "requirements.txt")]
    subprocess.run([*install, *requirements], check=True, env=env)
    small, large = work / "small.csv", work / "large.csv"
    for path, count in ((small, 5), (large, rows)):
        project.script("holdout_csv", str(count), str(path))

    edge = [str(venv / "bin" / "python"), str(bundle / "predict.py")]
    figures: dict[str, dict[str, list[float]]] = {"edge": {}, "batch": {}}
    for run in range(runs):
        for name in ("edge", "batch"):
            for label, path in (("cold", small), ("large", large)):
                if name == "edge":
                    seconds, rss = timed(edge, bundle, env, stdin=path)
                else:
                    db = env | {"SERVING_DB_URL": f"sqlite:///{work / f'serving-{run}-{label}.db'}"}
                    command = [python, "-m", package, "batch", "--input", str(path), "--batch-id", f"b{run}{label}"]
                    seconds, rss = timed(command, project.root, db)
                figures[name].setdefault(f"{label}_s", []).append(seconds)
                figures[name].setdefault(f"{label}_rss", []).append(rss)

    installed = {"edge": size_mib(venv) + size_mib(bundle), "batch": size_mib(project.root / ".venv")}
    print(f"\n{rows:,}-row CSV (the holdout repeated), median of {runs} run(s); bundle {bundle.name}: "
          f"model.onnx {size_mib(bundle / 'model.onnx') * 1024:.1f} KiB, "
          f"archive {size_mib(bundle.with_name(bundle.name + '.tar.gz')) * 1024:.1f} KiB\n")  # fmt: skip
    print("| path | installed MiB | cold start s (5 rows) | rows/s (whole command) | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, label in (("edge", "edge bundle (predict.py, fresh venv)"), ("batch", "make batch (project .venv)")):
        found = {key: statistics.median(values) for key, values in figures[name].items()}
        print(f"| {label} | {installed[name]:,.0f} | {found['cold_s']:.2f} | {rows / found['large_s']:,.0f} | "
              f"{max(found['cold_rss'], found['large_rss']):,.0f} |")  # fmt: skip
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")  # fmt: skip


if __name__ == "__main__":
    main()
