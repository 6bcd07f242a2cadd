"""Train the same XGBoost model on a generated dataset on the CPU and, where XGBoost sees a GPU, on CUDA.

    <a GPU project>/.venv/bin/python -m benchmarks.xgboost_device [--rows 1000000] [--features 50] [--rounds 200]
                                                                 [--depth 8] [--smoke]

Run it from the template's root with an interpreter that has xgboost (a GPU project's .venv/bin/python, for
example). Prints a table: fit and predict seconds per device, the holdout AUC (the same model should score the
same on both) and the speed-up. Not a test: the numbers go into docs/training.md. --smoke trains on 2,000 rows x 5
features, 5 rounds (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy, xgboost and scikit-learn are the GPU project's, imported where used (`--help` runs anywhere)
    import numpy as np

    Dataset = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X, y for training; X, y held out


def gpu_name() -> str | None:
    """The GPU's name when XGBoost really trains on one here (it falls back to the CPU silently otherwise)."""
    import numpy as np
    import xgboost

    if not xgboost.build_info().get("USE_CUDA"):
        return None
    with xgboost.config_context(verbosity=0):
        data = xgboost.DMatrix(np.array([[0.0], [1.0]]), label=np.array([0.0, 1.0]))
        booster = xgboost.train({"device": "cuda", "tree_method": "hist"}, data, num_boost_round=1)
    if not json.loads(booster.save_config())["learner"]["generic_param"]["device"].startswith("cuda"):
        return None
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        listed = subprocess.run(query, capture_output=True, text=True, check=False)
        if listed.returncode == 0 and listed.stdout.strip():
            return listed.stdout.strip().splitlines()[0]
    return "CUDA device 0"


def dataset(rows: int, features: int, seed: int) -> Dataset:
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows + rows // 5, n_features=features, n_informative=features // 2, random_state=seed
    )
    X = X.astype(np.float32)
    return X[:rows], y[:rows], X[rows:], y[rows:]


def measure(device: str, data: Dataset, rounds: int, depth: int, seed: int) -> dict[str, float]:
    import xgboost
    from sklearn.metrics import roc_auc_score

    X, y, X_test, y_test = data
    params = {"n_estimators": rounds, "max_depth": depth, "learning_rate": 0.1, "tree_method": "hist"}
    # warm-up: the first fit on a device pays one-off costs (CUDA context, kernels) that are not training
    xgboost.XGBClassifier(**(params | {"n_estimators": 2}), device=device).fit(X[:1000], y[:1000])
    model = xgboost.XGBClassifier(**params, device=device, random_state=seed)
    started = time.perf_counter()
    model.fit(X, y)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    proba = model.predict_proba(X_test)[:, 1]
    predict = time.perf_counter() - started
    return {"fit": fit, "predict": predict, "auc": roc_auc_score(y_test, proba)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=200, help="boosting rounds (n_estimators)")
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: prove the script runs (tests)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.features, args.rounds, args.depth = 2_000, 5, 5, 3

    import xgboost

    data = dataset(args.rows, args.features, args.seed)
    gpu = gpu_name()
    results = {"cpu": measure("cpu", data, args.rounds, args.depth, args.seed)}
    if gpu:
        results["cuda"] = measure("cuda", data, args.rounds, args.depth, args.seed)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}), "
        f"GPU: {gpu or 'none visible to XGBoost'}; "
        f"xgboost {xgboost.__version__}, Python {platform.python_version()}"
    )
    shape = f"{args.rows:,} rows x {args.features} features (float32)"
    print(f"data: {shape}; {args.rounds} rounds, depth {args.depth}, tree_method hist\n")
    print("| device | fit (s) | predict 20% holdout (s) | holdout AUC |\n| --- | ---: | ---: | ---: |")
    for device, r in results.items():
        label = f"cuda ({gpu})" if device == "cuda" else f"cpu ({os.cpu_count()} cores)"
        print(f"| {label} | {r['fit']:.2f} | {r['predict']:.2f} | {r['auc']:.4f} |")
    if "cuda" in results:
        print(f"\nGPU speed-up on fit: {results['cpu']['fit'] / results['cuda']['fit']:.1f}x")
    else:
        print("\nno GPU visible to XGBoost here: CPU only")


if __name__ == "__main__":
    main()
