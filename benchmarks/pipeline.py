"""Bake the default project and time its pipeline: setup, full `make pipeline`, no-op `dvc repro`.

    .venv/bin/python benchmarks/pipeline.py [--keep DIR]

Prints a table (seconds, this machine). Not a test: the numbers go into the README.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1",
         "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def timed(command: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | QUIET
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="bake into this folder and keep it")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    bake = timed([sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out)], out)
    project = out / "my-mlops-project"
    rows = [
        ("bake (cookiecutter + git commit)", bake),
        ("make setup (uv, lock file)", timed(["make", "setup"], project)),
        ("make pipeline (6 stages, first run)", timed(["make", "pipeline"], project)),
        ("dvc repro, nothing changed", timed(["make", "pipeline"], project)),
        ("dvc status", timed([".venv/bin/dvc", "status"], project)),
    ]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| step | seconds |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
