"""ONNX parity per model family and table: the largest difference between onnxruntime's answers and scikit-learn's
on the holdout, measured the way `register` measures it (training/onnx_export.check_parity).

    .venv/bin/python benchmarks/onnx_parity.py PROJECT

PROJECT is a baked, set-up project (`make setup`). The tables: two bundled with scikit-learn (breast_cancer,
diabetes), tests/data/penguins.csv (3 text classes) and the messy events table of tests/data/make_messy_table.py
(a target-encoded 5,000-value column, one-hot text, numbers with missing values; its timestamp is left out here,
since a model with a datetime feature is never exported). Each table goes through the project's own roles, split
and preprocessing; each family is fitted with its default parameters on the training part and exported. Prints one
row per table and family: holdout rows, whether every label is equal, the largest probability (or value)
difference, and the outcome (held, failed, or why it is not exported); the tree families also "(scaled)", with
their numbers scaled as before issue 20, which is what broke their parity. Not a test: docs/serving.md records it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _env import QUIET

TEMPLATE = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, logging, sys, warnings
import pandas as pd
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
from {package}.core.metrics import TASKS
from {package}.data import roles, sources, split
from {package}.training import features, models, onnx_export, search

def table(name, path, target):
    if path is None:
        return sources.load_sklearn(name, target)
    return pd.read_csv(path)

out = []
for name, path, target, task, drop in json.loads(sys.argv[1]):
    frame = table(name, path, target).drop(columns=drop)
    rows, _ = split.labelled(frame, target)
    rows, _ = split.deduplicate(rows)
    found = roles.infer(rows, target, TASKS[task].has_classes)
    kinds = {{r.column: r.role for r in found if r.is_feature}}
    train, test = split.split(rows, target, test_size=0.2, seed=42, stratify=TASKS[task].has_classes, group_on=list(kinds))
    schema = features.infer(train, target, task, kinds)
    families = ["logistic_regression", "hist_gradient_boosting", "random_forest"] if task == "classification" else ["ridge", "hist_gradient_boosting", "random_forest"]
    for family in families + [f + " (scaled)" for f in families if not models.FAMILIES[f].scale_inputs]:
        name_, scaled = family.removesuffix(" (scaled)"), family.endswith("(scaled)")
        model = search.pipeline_for(search.Trial(name_, {{}}), schema, seed=42)
        if scaled:  # as before issue 20: the tree families' numbers scaled like the linear ones'
            model.steps[0] = ("preprocess", features.preprocessor(schema, scale=True))
        model.fit(features.conform(train, schema), train[target])
        done = onnx_export.export_checked(model, schema, features.conform(test, schema))
        parity = done.parity
        out.append({{"table": name, "family": family, "rows": len(test),
                    "labels_equal": None if parity is None else parity.labels_equal,
                    "max_difference": None if parity is None else parity.max_difference,
                    "outcome": "held" if done.usable else ("failed" if parity else "not exported: " + done.reason[:60])}})
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    args = parser.parse_args()
    project = args.project.resolve()
    package = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").exists())
    with tempfile.TemporaryDirectory() as tmp:
        messy = Path(tmp) / "events.csv"
        subprocess.run(
            [sys.executable, str(TEMPLATE / "tests" / "data" / "make_messy_table.py"), str(messy)], check=True
        )
        tables = [
            ("breast_cancer", None, "target", "classification", []),
            ("diabetes", None, "target", "regression", []),
            ("penguins", str(TEMPLATE / "tests" / "data" / "penguins.csv"), "species", "classification", []),
            ("messy events", str(messy), "fraud", "classification", ["created"]),
        ]
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | QUIET
        done = subprocess.run(
            [str(project / ".venv" / "bin" / "python"), "-c", PROBE.format(package=package), json.dumps(tables)],
            cwd=project, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    print(f"machine load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'table':<14} {'family':<32} {'rows':>6} {'labels equal':>12} {'max difference':>14}  outcome")
    for row in json.loads(done.stdout.strip().splitlines()[-1]):
        equal = "-" if row["labels_equal"] is None else ("yes" if row["labels_equal"] else "no")
        difference = "-" if row["max_difference"] is None else f"{row['max_difference']:.2g}"
        print(f"{row['table']:<14} {row['family']:<32} {row['rows']:>6} {equal:>12} {difference:>14}  {row['outcome']}")


if __name__ == "__main__":
    main()
