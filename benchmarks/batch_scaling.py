"""Batch at scale, on one machine, one run, the same champion: `python -m <package> batch` (streaming, bounded
memory) at two input sizes, and on Spark `local[N]` vs in-process on the same input.

    python benchmarks/batch_scaling.py --project DIR [--rows 1000000 20000000] [--chunk-rows 50000]
                                       [--spark-rows 1000000] [--spark-master local[2]]

DIR is a baked project after `make setup pipeline` (a champion in its registry); `--spark-rows 0` skips Spark
(which needs the project's `spark` extra and Java 17). Each size is a Parquet file of the holdout repeated, written
in pieces (the generator's memory stays small too), scored by the real command into a fresh SQLite serving layer.
Peak RSS is the command's own maximum resident set (os.wait4), the whole process: Python, the model, the chunk
in flight. For Spark it is the driver's Python only (the JVM and the Python workers are other processes; their
sum is printed from /proc while it runs). Target: peak RSS does not grow with the row count. Prints a markdown
table and the machine's load. Not a test.
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

from _env import QUIET

# Runs in the project's Python: the holdout repeated to N rows, written as Parquet in row groups of ~100k rows.
MAKE_INPUT = r"""
import sys, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
rows, out = int(sys.argv[1]), sys.argv[2]
holdout = pd.read_parquet("data/processed/test.parquet")
piece = pa.Table.from_pandas(pd.concat([holdout] * max(1, 100_000 // len(holdout)), ignore_index=True), preserve_index=False)
with pq.ParquetWriter(out, piece.schema) as writer:
    left = rows
    while left:
        take = min(left, piece.num_rows)
        writer.write_table(piece.slice(0, take))
        left -= take
"""


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


def run_one(project: Path, python: Path, path: Path, engine: str, args, workdir: Path) -> dict:
    """One scoring in a fresh process, its peak RSS from wait4 (not mixed with earlier children)."""
    db = workdir / f"serving-{engine}-{path.stem}.db"
    env = os.environ | QUIET | {"SERVING_DB_URL": f"sqlite:///{db}"}
    command = [str(python), "-m", args.package, "batch", "--input", str(path), "--chunk-rows", str(args.chunk_rows)]
    if engine != "in-process":
        command += ["--engine", "spark", "--spark-master", args.spark_master]
    out_path, err_path = workdir / "out.txt", workdir / "err.txt"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=out, stderr=err)
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
    parser.add_argument("--package", default="my_mlops_project")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--spark-rows", type=int, default=1_000_000, help="0: skip Spark")
    parser.add_argument("--spark-master", default="local[2]")
    args = parser.parse_args()
    project = args.project.resolve()
    python = project / ".venv" / "bin" / "python"
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        workdir = Path(tmp)
        inputs: dict[int, Path] = {}
        for rows in sorted(set(args.rows + ([args.spark_rows] if args.spark_rows else []))):
            inputs[rows] = workdir / f"input-{rows}.parquet"
            subprocess.run([str(python), "-c", MAKE_INPUT, str(rows), str(inputs[rows])], cwd=project, check=True)
        for rows in args.rows:
            results.append(run_one(project, python, inputs[rows], "in-process", args, workdir))
            print(json.dumps(results[-1]), flush=True)
        if args.spark_rows:
            if args.spark_rows not in args.rows:
                results.append(run_one(project, python, inputs[args.spark_rows], "in-process", args, workdir))
            results.append(
                run_one(project, python, inputs[args.spark_rows], f"spark {args.spark_master}", args, workdir)
            )
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
