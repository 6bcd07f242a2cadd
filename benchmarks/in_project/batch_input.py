"""The batch comparison's input and its in-memory baseline: ROWS rows sampled from the holdout, written as Parquet
(for the batch command) and CSV (for `mlflow models predict`), and the champion's in-memory predict on them.

    python batch_input.py PACKAGE TRACKING_URI MODEL_URI ROWS PARQUET CSV

Prints one JSON line: rows, and the seconds of one `model.predict` over all of them (after a 1,000-row warm-up).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd


def main() -> None:
    package, tracking_uri, model_uri, rows, parquet, csv = sys.argv[1:7]
    schemas = importlib.import_module(f"{package}.core.schema")
    features = importlib.import_module(f"{package}.training.features")
    mlflow.set_tracking_uri(tracking_uri)
    names = [f["name"] for f in json.loads(Path("data/processed/features.json").read_text())["features"]]
    holdout = pd.read_parquet("data/processed/test.parquet")[names]
    frame = holdout.sample(int(rows), replace=True, random_state=0).reset_index(drop=True)
    frame.to_parquet(parquet)
    frame.to_csv(csv, index=False)
    model = mlflow.sklearn.load_model(model_uri)
    schema = schemas.Schema.load("data/processed/features.json")
    X = features.conform(frame, schema)
    model.predict(X.head(1000))
    started = time.perf_counter()
    model.predict(X)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(X), "seconds": seconds}))


if __name__ == "__main__":
    main()
