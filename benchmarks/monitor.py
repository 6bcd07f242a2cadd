"""`make monitor` over a large serving layer: 1,000,000 served rows (features kept), 5% of them labelled.

    .venv/bin/python benchmarks/monitor.py [--project DIR] [--rows 1000000]

--project: a baked project that ran `make setup pipeline` (default: bake the default project into a temporary
folder and run them, minutes). The serving layer is a fresh SQLite file next to it, filled as the service fills it
(store.insert: requests of 100 rows, each row with its features and class probabilities), from holdout rows with
noise. Then `make monitor` runs twice: with the default policy (monitor.max_rows, a random sample of the window for
drift and quality) and reading every row (max_rows = rows). Prints a table: wall seconds and the peak resident
memory of the monitor process (getrusage of the child), and the seconds of importing Evidently alone (part of both
runs: every `make monitor` pays it once). Not a test: the numbers go into docs/monitoring.md.
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

import yaml
from _env import QUIET

TEMPLATE = Path(__file__).resolve().parents[1]

FILL = r"""
import sys, time
import numpy as np, pandas as pd
from {package}.core import config
from {package}.predictions import database, store

rows, db = int(sys.argv[1]), sys.argv[2]
cfg = config.load()
engine = database.connect(db)
holdout = pd.read_parquet("data/processed/test.parquet")
target = cfg.ingest.target
X = holdout.drop(columns=[target])
numeric = X.select_dtypes("number").columns
rng = np.random.default_rng(0)
created = database.now()
per_request, written, labels = 100, 0, []
while written < rows:
    batch = X.sample(n=10_000, replace=True, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
    batch[numeric] = batch[numeric] * rng.normal(1.0, 0.01, size=(len(batch), len(numeric)))
    truth = holdout[target].sample(n=len(batch), replace=True, random_state=1).tolist()
    records = batch.astype(object).where(batch.notna(), None).to_dict("records")
    out = []
    for i, record in enumerate(records):
        request = f"bench{{(written + i) // per_request}}"
        label = truth[i]
        out.append({{"source": "online", "request_id": request, "row_index": (written + i) % per_request,
                    "created_at": created, "model_name": cfg.tracking.model_name, "model_version": "1",
                    "inputs": record, "prediction": label, "probabilities": None}})
        if (written + i) % 20 == 0:
            labels.append(((request, str((written + i) % per_request)), label))
    store.insert(engine, out)
    written += len(out)
store.record_feedback(engine, labels)
print(written, len(labels))
"""


def env_for(project: Path, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | QUIET
    return env | {"SERVING_DB_URL": db_url, "PATH": f"{project / '.venv' / 'bin'}:{env['PATH']}"}


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command run as a child of a fresh helper process."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    seconds, kib = done.stdout.split()
    return float(seconds), int(kib) / 1024


def policy(project: Path, max_rows: int) -> None:
    params = project / "params.yaml"
    text = params.read_text()
    data = yaml.safe_load(text)
    old = f"max_rows: {data['monitor']['max_rows']}"
    params.write_text(text.replace(old, f"max_rows: {max_rows}", 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project after `make setup pipeline`")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--layer", type=Path, help="a serving.db this script filled before (skips the filling)")
    args = parser.parse_args()
    project = args.project
    if project is None:
        out = Path(tempfile.mkdtemp(prefix="mlops-bench-monitor-"))
        subprocess.run([sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out)], check=True)
        project = out / "my-mlops-project"
        subprocess.run(["make", "setup", "pipeline"], cwd=project, check=True, env=env_for(project, ""))
    project = project.resolve()
    before = os.getloadavg()
    package = yaml.safe_load((project / ".cookiecutter.json").read_text()).get("package_name", "my_mlops_project")
    layer = args.layer.resolve() if args.layer else Path(tempfile.mkdtemp(prefix="monitor-layer-")) / "serving.db"
    db_url = f"sqlite:///{layer}"
    env = env_for(project, db_url)
    started = time.perf_counter()
    if not args.layer:
        subprocess.run(
            [str(project / ".venv" / "bin" / "python"), "-c", FILL.format(package=package), str(args.rows), db_url],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    fill = time.perf_counter() - started
    size = layer.stat().st_size / 2**20
    original = (project / "params.yaml").read_text()
    default = yaml.safe_load(original)["monitor"]["max_rows"]
    rows = []
    try:
        for max_rows in (default, args.rows):
            policy(project, max_rows)
            seconds, peak = measured(["make", "monitor", "SINCE=1d"], project, env)
            rows.append((max_rows, seconds, peak))
    finally:
        (project / "params.yaml").write_text(original)
    python = str(project / ".venv" / "bin" / "python")
    importing = f"from {package}.monitoring import drift; drift._evidently()"
    evidently_seconds, evidently_peak = measured([python, "-c", importing], project, env)
    load = os.getloadavg()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {before[0]:.1f} before, {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} after"
    )
    filled = f"filled in {fill:.0f} s, not counted" if not args.layer else "filled by an earlier run"
    print(f"serving layer: {args.rows:,} served rows, {args.rows // 20:,} labelled, SQLite {size:.0f} MiB ({filled})\n")
    print("| make monitor over the window | rows read for drift + quality | seconds | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: |")
    for max_rows, seconds, peak in rows:
        label = "default policy (monitor.max_rows)" if max_rows == default else "every row (max_rows = rows)"
        print(f"| {label} | {min(max_rows, args.rows):,} | {seconds:.1f} | {peak:.0f} |")
    print(f"| of which importing Evidently (alone) | - | {evidently_seconds:.1f} | {evidently_peak:.0f} |")


if __name__ == "__main__":
    main()
