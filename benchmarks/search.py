"""Time the default model search of a baked project, and what logging each trial as an MLflow child run costs.

    python -m benchmarks.search [--runner self-hosted-cpu|self-hosted-gpu|github-hosted] [--task ...]
                                [--project DIR] [--python PYTHON] [--repeat 3] [--smoke]

Without --project it bakes the template with the answers given and runs `make setup`; with --project it uses an
already baked project (its .venv, or --python). The stages run in a scratch copy (params.yaml, gx/, vendor/) with
MLflow on a SQLite file there, so the project is left as it was.

For each repeat: the real train stage (search as child runs, refit, model logged), then the same search with no
MLflow at all. Prints a table: search wall time, time spent logging child runs (measured around each child run
inside train) and its share of the search, and the search time with no logging. Target: logging under 10%.
Not a test: the numbers go into docs/training.md. --smoke runs once with one logistic regression on 3 folds
(benchmarks/in_project/search_driver.py --lean) to prove the script runs (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.project import IN_PROJECT, bake_and_set_up
from tools.environment import project_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runner", default="self-hosted-gpu", help="training_runner answer to bake (default: %(default)s)"
    )
    parser.add_argument("--task", default="classification", choices=["classification", "regression"])
    parser.add_argument("--project", type=Path, help="an already baked project to use instead of baking one")
    parser.add_argument("--python", help="interpreter with the project installed (default: the project's .venv)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one quick candidate, once: prove the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.repeat = 1

    answers_given = [f"training_runner={args.runner}", f"task={args.task}"]
    project = (args.project or bake_and_set_up("search-bench-bake-", *answers_given)).resolve()
    answers = json.loads((project / ".cookiecutter.json").read_text())
    python = args.python or str(project / ".venv" / "bin" / "python")
    started = time.perf_counter()
    driver = [python, str(IN_PROJECT / "search_driver.py"), answers["package_name"], str(project), str(args.repeat)]
    done = subprocess.run(
        [*driver, *(["--lean"] if args.smoke else [])],
        env=project_env(project),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"the benchmark driver failed:\n{done.stderr[-4000:]}")
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    first = runs[0]

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}; {time.perf_counter() - started:.0f} s in all"
    )
    print(
        f"project: training_runner={answers['training_runner']}, task={answers['task']}, "
        f"{answers['mlflow_tracking_uri']} tracking (here a scratch SQLite file)"
    )
    print(
        f"search: {'one candidate (--smoke)' if args.smoke else 'default params.yaml'}, {first['trials']} trials ({', '.join(first['families'])}), "
        f"{first['folds']}-fold CV on {first['rows']} rows, device {first['device']}; best: {first['best']}; "
        f"median of {len(runs)}\n"
    )
    print("| measure | seconds | share of search |\n| --- | ---: | ---: |")
    print(f"| search wall time, trials as MLflow child runs | {median('search'):.2f} | 100% |")
    print(f"| of which child-run logging | {median('logging'):.3f} | {100 * median('share'):.1f}% |")
    print(f"| same search, no MLflow | {median('bare'):.2f} | |")
    print(f"| refit of the best on all training rows | {median('refit'):.2f} | |")
    verdict = "meets" if median("share") < 0.10 else "MISSES"
    print(f"\nchild-run logging {verdict} the target of under 10% of the search time")


if __name__ == "__main__":
    main()
