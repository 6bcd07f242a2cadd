"""Fill a serving layer as the service fills it: ROWS served rows (requests of 100 rows, each row with its features),
taken from the holdout with 1% noise on the numeric columns, and every 20th row labelled (feedback).

    python fill_serving_layer.py PACKAGE ROWS DB_URL

Prints the rows written and the labels recorded.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import pandas as pd


def main() -> None:
    package, rows, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    config = importlib.import_module(f"{package}.core.config")
    database = importlib.import_module(f"{package}.predictions.database")
    store = importlib.import_module(f"{package}.predictions.store")
    cfg = config.load()
    engine = database.connect(db)
    holdout = pd.read_parquet("data/processed/test.parquet")
    target = cfg.ingest.target
    X = holdout.drop(columns=[target])
    numeric = X.select_dtypes("number").columns
    rng = np.random.default_rng(0)
    created = database.now()
    per_request, written = 100, 0
    labels: list[tuple[tuple[str, str], Any]] = []
    while written < rows:
        size = min(10_000, rows - written)
        batch = X.sample(n=size, replace=True, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
        batch[numeric] = batch[numeric] * rng.normal(1.0, 0.01, size=(len(batch), len(numeric)))
        truth = holdout[target].sample(n=len(batch), replace=True, random_state=1).tolist()
        records = batch.astype(object).where(batch.notna(), None).to_dict("records")
        out = []
        for i, record in enumerate(records):
            request = f"bench{(written + i) // per_request}"
            label = truth[i]
            out.append(
                {
                    "source": "online",
                    "request_id": request,
                    "row_index": (written + i) % per_request,
                    "created_at": created,
                    "model_name": cfg.tracking.model_name,
                    "model_version": "1",
                    "inputs": record,
                    "prediction": label,
                    "probabilities": None,
                }
            )
            if (written + i) % 20 == 0:
                labels.append(((request, str((written + i) % per_request)), label))
        store.insert(engine, out)
        written += len(out)
    store.record_feedback(engine, labels)
    print(written, len(labels))


if __name__ == "__main__":
    main()
