"""ONNX parity per model family and table: the largest difference between onnxruntime's answers and scikit-learn's
on the holdout, measured the way `register` measures it (training/onnx_export.check_parity).

    python -m benchmarks.onnx_parity --project DIR [--rows 50000] [--smoke]

DIR is a baked, set-up project (`make setup`). The tables: two bundled with scikit-learn (breast_cancer, diabetes),
tests/data/penguins.csv (3 text classes) and the messy events table of tests/data/make_messy_table.py (a
target-encoded 5,000-value column, one-hot text, numbers with missing values; its timestamp is left out here, since
a model with a datetime feature is never exported). Each table goes through the project's own roles, split and
preprocessing; each family is fitted with its default parameters on the training part and exported
(benchmarks/in_project/onnx_parity_probe.py). Prints one row per table and family: holdout rows, whether every label
is equal, the largest probability (or value) difference, and the outcome (held, failed, or why it is not exported);
the tree families also "(scaled)", with their numbers scaled as before issue 20, which is what broke their parity.
Not a test: docs/serving.md records it; --smoke uses a 3,000-row messy table (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.project import TEMPLATE, Project, load_average


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the messy events table")
    parser.add_argument("--smoke", action="store_true", help="a 3,000-row messy table: prove the script runs (tests)")
    args = parser.parse_args()
    project = Project.at(args.project)
    with tempfile.TemporaryDirectory(prefix="onnx-parity-") as tmp:
        messy = Path(tmp) / "events.csv"
        maker = TEMPLATE / "tests" / "data" / "make_messy_table.py"
        subprocess.run([sys.executable, str(maker), str(messy), str(3_000 if args.smoke else args.rows)], check=True)
        tables = [
            ("breast_cancer", None, "target", "classification", []),
            ("diabetes", None, "target", "regression", []),
            ("penguins", str(TEMPLATE / "tests" / "data" / "penguins.csv"), "species", "classification", []),
            ("messy events", str(messy), "fraud", "classification", ["created"]),
        ]
        found = json.loads(project.script("onnx_parity_probe", project.package, json.dumps(tables)))
    print(f"machine load: {load_average()}\n")
    print("| table | family | holdout rows | labels equal | max difference | outcome |")
    print("| --- | --- | ---: | --- | ---: | --- |")
    for row in found:
        equal = "-" if row["labels_equal"] is None else ("yes" if row["labels_equal"] else "no")
        difference = "-" if row["max_difference"] is None else f"{row['max_difference']:.2g}"
        print(f"| {row['table']} | {row['family']} | {row['rows']:,} | {equal} | {difference} | {row['outcome']} |")


if __name__ == "__main__":
    main()
