"""Batch at scale, on one machine, one run, the same champion: `python -m <package> batch` (streaming, bounded
memory) at two input sizes, and on Spark `local[N]` vs in-process on the same input.

    python -m benchmarks.batch_scaling --project DIR [--rows 1000000 20000000] [--chunk-rows 50000]
                                        [--spark-rows 1000000] [--spark-master local[2]] [--smoke]

DIR is a baked project after `make setup pipeline` (a champion in its registry); `--spark-rows 0` skips Spark
(which needs the project's `spark` extra and Java 17). Each size is a Parquet file of the holdout repeated, written
in pieces (the generator's memory stays small too), scored by the real command into a fresh SQLite serving layer.
Peak RSS is the command's own maximum resident set (os.wait4), the whole process: Python, the model, the chunk
in flight. For Spark it is the driver's Python only (the JVM and the Python workers are other processes; their
sum is printed from /proc while it runs). Target: peak RSS does not grow with the row count. Prints a markdown
table and the machine's load. Not a test; --smoke scores 2,000 and 4,000 rows in chunks of 500, and 2,000 on Spark
unless --spark-rows 0 (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.project import IN_PROJECT, Project


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants now (Linux /proc), in KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parent = int(fields.get("PPid", "0").strip())
        children.setdefault(parent, []).append(int(entry.name))
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def run_one(project: Project, path: Path, engine: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One scoring in a fresh process, its peak RSS from wait4 (not mixed with earlier children)."""
    db = workdir / f"serving-{engine}-{path.stem}.db"
    env = project.env(SERVING_DB_URL=f"sqlite:///{db}")
    command = [str(project.python), "-m", project.package, "batch", "--input", str(path)]
    command += ["--chunk-rows", str(args.chunk_rows)]
    if engine != "in-process":
        command += ["--engine", "spark", "--spark-master", args.spark_master]
    out_path, err_path = workdir / "out.txt", workdir / "err.txt"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(command, cwd=project.root, env=env, stdout=out, stderr=err)
        tree_peak = [0]

        def sample() -> None:
            while process.returncode is None:
                tree_peak[0] = max(tree_peak[0], tree_rss_kib(process.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err_path.read_text()[-3000:]}")
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    return {
        "engine": engine,
        "rows": result["rows"],
        "seconds": seconds,
        "rows_per_s": result["written"] / seconds,
        "scoring_rows_per_s": result["scoring_rows_per_second"],
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "tree_rss_mib": tree_peak[0] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--spark-rows", type=int, default=1_000_000, help="0: skip Spark")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.chunk_rows = [2_000, 4_000], 500
        args.spark_rows = min(args.spark_rows, 2_000)
    project = Project.at(args.project)
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        workdir = Path(tmp)
        inputs: dict[int, Path] = {}
        for rows in sorted(set(args.rows + ([args.spark_rows] if args.spark_rows else []))):
            inputs[rows] = workdir / f"input-{rows}.parquet"
            command = [str(project.python), str(IN_PROJECT / "repeat_holdout.py"), str(rows), str(inputs[rows])]
            subprocess.run(command, cwd=project.root, env=project.env(), check=True)
        for rows in args.rows:
            results.append(run_one(project, inputs[rows], "in-process", args, workdir))
            print(json.dumps(results[-1]), flush=True)
        if args.spark_rows:
            if args.spark_rows not in args.rows:
                results.append(run_one(project, inputs[args.spark_rows], "in-process", args, workdir))
            results.append(run_one(project, inputs[args.spark_rows], f"spark {args.spark_master}", args, workdir))
            print(json.dumps(results[-1]), flush=True)
    load_after = os.getloadavg()
    print()
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s); "
        f"load average (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
        f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}; chunk {args.chunk_rows} rows"
    )
    print()
    print(
        "| engine | rows | wall s | rows/s (whole command) | rows/s (scoring+writing) | peak RSS MiB | process tree RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['engine']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | "
            f"{r['scoring_rows_per_s']:,.0f} | {r['peak_rss_mib']:.0f} | {r['tree_rss_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
