"""`make monitor` over a large serving layer: 1,000,000 served rows (features kept), 5% of them labelled.

    python -m benchmarks.monitor [--project DIR] [--rows 1000000] [--layer DB] [--smoke]

--project: a baked project that ran `make setup pipeline` (default: bake the default project into a temporary
folder and run them, minutes). The serving layer is a fresh SQLite file in a temporary folder, filled as the
service fills it (store.insert: requests of 100 rows, each row with its features and class probabilities), from
holdout rows with noise (benchmarks/in_project/fill_serving_layer.py). Then `make monitor` runs twice: with the
default policy (monitor.max_rows, a random sample of the window for drift and quality) and reading every row
(max_rows = rows; params.yaml is restored after). Prints a table: wall seconds and the peak resident memory of the
monitor process (os.wait4), and the seconds of importing Evidently alone (part of both runs: every `make monitor`
pays it once). Not a test: the numbers go into docs/monitoring.md. --smoke fills 2,000 rows (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.project import Project, bake_and_set_up, wall_and_peak_rss


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
    parser.add_argument("--smoke", action="store_true", help="2,000 rows: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.rows = 2_000
    project = Project.at(args.project or bake_and_set_up("mlops-bench-monitor-", pipeline=True))
    root, package = project.root, project.package
    before = os.getloadavg()
    layer = args.layer.resolve() if args.layer else Path(tempfile.mkdtemp(prefix="monitor-layer-")) / "serving.db"
    db_url = f"sqlite:///{layer}"
    env = project.env(SERVING_DB_URL=db_url)
    started = time.perf_counter()
    if not args.layer:
        project.script("fill_serving_layer", package, str(args.rows), db_url, env=env)
    fill = time.perf_counter() - started
    size = layer.stat().st_size / 2**20
    original = (root / "params.yaml").read_text()
    default = yaml.safe_load(original)["monitor"]["max_rows"]
    rows = []
    try:
        for max_rows in (default, args.rows):
            policy(root, max_rows)
            seconds, peak = wall_and_peak_rss(["make", "monitor", "SINCE=1d"], root, env)
            rows.append((max_rows, seconds, peak))
    finally:
        (root / "params.yaml").write_text(original)
    importing = f"from {package}.monitoring import drift; drift._evidently()"
    evidently_seconds, evidently_peak = wall_and_peak_rss([str(project.python), "-c", importing], root, env)
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
