"""train: search the candidates as nested MLflow child runs, refit the best and log it as the run's model.

Writes models/candidate.json (run id and model URI), which evaluate and register read.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .. import features, models, search, tracking  # noqa: E402
from ..config import Config  # noqa: E402

log = logging.getLogger(__name__)
PROCESSED = Path("data/processed")
VALIDATION = Path("reports/validation.json")
OUTPUT = Path("models/candidate.json")
LIBRARIES = ("scikit-learn", "xgboost", "mlflow", "pandas", "numpy")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def search_figure(result: search.SearchResult):
    """Cross-validated score of every trial, best highlighted."""
    table = result.table()
    best = result.best().trial.name
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(table) + 1.5))
    colors = ["tab:orange" if name == best else "tab:blue" for name in table["trial"]]
    ax.barh(table["trial"], table[f"cv_{result.metric}"], xerr=table[f"cv_{result.metric}_std"], color=colors)
    ax.set_xlabel(f"cross-validated {result.metric}")
    ax.set_title("Model search (best in orange)")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def _log_trial(metric: str, seconds: list[float]):
    import mlflow

    def on_trial(result: search.TrialResult) -> None:
        started = time.perf_counter()
        with mlflow.start_run(run_name=result.trial.name, nested=True):
            mlflow.set_tag("search.family", result.trial.family)
            mlflow.log_params({"family": result.trial.family, **result.trial.params})
            mlflow.log_metrics(
                {f"cv_{metric}": result.score, f"cv_{metric}_std": result.score_std, "fit_seconds": result.fit_seconds}
            )
        seconds.append(time.perf_counter() - started)

    return on_trial


def run(cfg: Config, processed: Path = PROCESSED, output: Path = OUTPUT) -> dict[str, Any]:
    import mlflow
    from mlflow.models import infer_signature

    schema = features.Schema.load(processed / "features.json")
    frame = pd.read_parquet(processed / "train.parquet")
    X, y = features.conform(frame, schema), frame[schema.target]
    device = models.resolve_device(cfg.train.device)
    trials = search.plan(cfg.train.search, cfg.task, cfg.train.seed)
    metric = cfg.train.metric
    tracking.configure(cfg.tracking)

    with mlflow.start_run(run_name="train") as parent:
        mlflow.set_tags(
            {"stage": "train", "task": cfg.task, "device": device}
            | tracking.lineage_tags({"train": processed / "train.parquet"}, VALIDATION)
            | {f"version.{name}": v for name, v in library_versions().items()}
        )
        mlflow.log_params(
            {"search.strategy": cfg.train.search.strategy, "search.trials": len(trials), "cv_folds": cfg.train.cv_folds,
             "seed": cfg.train.seed, "metric": metric, "device": device, "train_rows": len(X)}
        )
        logging_seconds: list[float] = []
        result = search.run_search(
            trials, X, y, schema, metric=metric, folds=cfg.train.cv_folds, seed=cfg.train.seed,
            max_seconds=cfg.train.search.max_seconds, device=device,
            on_trial=_log_trial(metric, logging_seconds),
        )
        best = result.best()
        started = time.perf_counter()
        model = search.pipeline_for(best.trial, schema, seed=cfg.train.seed, device=device).fit(X, y)
        train_seconds = time.perf_counter() - started

        mlflow.log_params({"model.family": best.trial.family} | {f"model.{k}": v for k, v in best.trial.params.items()})
        mlflow.log_metrics(
            {f"cv_{metric}": best.score, f"cv_{metric}_std": best.score_std, "train_seconds": train_seconds,
             "search_seconds": result.seconds, "search_trials_run": len(result.results),
             "search_logging_share": sum(logging_seconds) / max(result.seconds, 1e-9)}
        )
        mlflow.log_table(result.table(), artifact_file="search/results.json")
        figure = search_figure(result)
        mlflow.log_figure(figure, "search/search.png")
        plt.close(figure)

        example = X.head(5)
        signature = infer_signature(example, model.predict(example))
        info = mlflow.sklearn.log_model(
            model, name="model", signature=signature, input_example=example,
            pip_requirements=tracking.pip_requirements(), skops_trusted_types=tracking.skops_types(model),
        )
        candidate = {
            "run_id": parent.info.run_id,
            "model_uri": info.model_uri,
            "model_id": info.model_id,
            "family": best.trial.family,
            "params": best.trial.params,
            f"cv_{metric}": best.score,
            "device": device,
            "trials": len(result.results),
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(candidate, indent=2, default=str) + "\n")
    log.info("best of %d trials: %s (cv %s %.4f); run %s", len(result.results), best.trial.name, metric, best.score,
             parent.info.run_id)
    return candidate
