"""ONNX parity of each family on each table, measured as `register` measures it (training/onnx_export), printed as
one JSON line: a list of {table, family, rows, labels_equal, max_difference, outcome}.

    python onnx_parity_probe.py PACKAGE TABLES_JSON

TABLES_JSON: a list of [name, csv path or null (a scikit-learn dataset), target, task, columns to drop]. Each table
goes through the project's roles, split and preprocessing; each family is fitted with its default parameters on the
training part. The tree families are also measured "(scaled)": their numbers scaled as before issue 20.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import warnings
from typing import Any

import pandas as pd


def main() -> None:
    package, tables = sys.argv[1], json.loads(sys.argv[2])
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    part = {name: importlib.import_module(f"{package}.{name}") for name in ("core.metrics", "data.roles",
            "data.sources", "data.split", "training.features", "training.models", "training.onnx_export",
            "training.search")}  # fmt: skip
    tasks, roles, sources, split = (
        part["core.metrics"].TASKS,
        part["data.roles"],
        part["data.sources"],
        part["data.split"],
    )
    features, models, onnx_export, search = (
        part[f"training.{n}"] for n in ("features", "models", "onnx_export", "search")
    )
    out: list[dict[str, Any]] = []
    for name, path, target, task, drop in tables:
        frame = (sources.load_sklearn(name, target) if path is None else pd.read_csv(path)).drop(columns=drop)
        rows, _ = split.labelled(frame, target)
        rows, _ = split.deduplicate(rows)
        kinds = {r.column: r.role for r in roles.infer(rows, target, tasks[task].has_classes) if r.is_feature}
        train, test = split.split(
            rows, target, test_size=0.2, seed=42, stratify=tasks[task].has_classes, group_on=list(kinds)
        )
        schema = features.infer(train, target, task, kinds)
        linear = "logistic_regression" if task == "classification" else "ridge"
        families = [linear, "hist_gradient_boosting", "random_forest"]
        for family in families + [f + " (scaled)" for f in families if not models.FAMILIES[f].scale_inputs]:
            base, scaled = family.removesuffix(" (scaled)"), family.endswith("(scaled)")
            model = search.pipeline_for(search.Trial(base, {}), schema, seed=42)
            if scaled:  # as before issue 20: the tree families' numbers scaled like the linear ones'
                model.steps[0] = ("preprocess", features.preprocessor(schema, scale=True))
            model.fit(features.conform(train, schema), train[target])
            done = onnx_export.export_checked(model, schema, features.conform(test, schema))
            parity = done.parity
            outcome = "held" if done.usable else ("failed" if parity else "not exported: " + done.reason[:60])
            out.append(
                {"table": name, "family": family, "rows": len(test),
                 "labels_equal": None if parity is None else parity.labels_equal,
                 "max_difference": None if parity is None else parity.max_difference, "outcome": outcome}
            )  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
