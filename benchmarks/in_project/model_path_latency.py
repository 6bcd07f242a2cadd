"""One row through the served model's own path (serving/model.py), on each runtime the stored champion has:
validated records as the service feeds them, and a DataFrame conformed as batch does (no HTTP, one thread).

    python model_path_latency.py PACKAGE RECORD_JSON SECONDS

Prints one JSON line: for each runtime and input kind, p50 and p99 in µs and the number of calls timed.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import bentoml
import pandas as pd


def conformed(served: Any, features: Any, record: dict[str, Any]) -> Any:
    """A one-row DataFrame conformed to the model's schema and predicted, as the service did before."""
    return served.predict(features.conform(pd.DataFrame([record]), served.schema))


def main() -> None:
    package, record, seconds = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    config = importlib.import_module(f"{package}.core.config")
    schemas = importlib.import_module(f"{package}.core.schema")
    features = importlib.import_module(f"{package}.training.features")
    serving = importlib.import_module(f"{package}.serving")
    stored = bentoml.models.get(f"{serving.store_name(config.load().tracking.model_name)}:latest")
    row = tuple(record[name] for name in schemas.Schema.from_dict(stored.info.metadata).names)
    results: dict[str, dict[str, float]] = {}
    for runtime in ("onnxruntime", "scikit-learn"):
        served = serving.load(stored, runtime=runtime)
        cases: dict[str, Callable[[], Any]] = {
            "a validated row, no DataFrame (the service)": partial(served.predict_rows, [row]),
            "DataFrame + conform (the service before)": partial(conformed, served, features, record),
        }
        for name, call in cases.items():
            for _ in range(200):
                call()
            latencies: list[float] = []
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                call()
                latencies.append(time.perf_counter() - started)
            latencies.sort()
            results[f"{served.runtime_name}: {name}"] = {
                "p50_us": latencies[len(latencies) // 2] * 1e6,
                "p99_us": latencies[int(0.99 * len(latencies))] * 1e6,
                "calls": len(latencies),
            }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
