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
import matplotlib.pyplot as plt
import pandas as pd

from .. import features, models, search, tracking
from ..config import Config

log = logging.getLogger(__name__)
PROCESSED = Path("data/processed")
VALIDATION = Path("reports/validation.json")
OUTPUT = Path("models/candidate.json")
LIBRARIES = ("scikit-learn", "xgboost", "mlflow", "pandas", "numpy")


def library_versions(device: str = "cpu") -> dict[str, str]:
    """Python and the training libraries that are installed, plus the CUDA that XGBoost was built with on a GPU."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if device == "cuda":
        import xgboost

        versions["xgboost.cuda"] = ".".join(map(str, xgboost.build_info().get("CUDA_VERSION", [])))
    return versions


def search_figure(result: search.SearchResult):
    """Cross-validated score of every trial with its spread over the folds, best highlighted."""
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


class ChildRuns:
    """Logs each trial of the search as a nested MLflow child run of the active run, and times that logging.

    One child run holds the trial's family and parameters, its cross-validated metric (mean, spread and one
    value per fold as steps) and its fit time; a failed trial ends FAILED with its error as a tag.
    """

    def __init__(self, metric: str, device: str) -> None:
        self.metric = metric
        self.device = device
        self.run_ids: list[str] = []
        self.seconds = 0.0

    def __call__(self, result: search.TrialResult) -> None:
        import mlflow
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        started = time.perf_counter()
        tags = {
            "search.family": result.trial.family,
            "device": self.device if models.uses_device(result.trial.family) else "cpu",
        }
        if result.error:
            tags["search.error"] = result.error[:5000]
        child = mlflow.start_run(run_name=result.trial.name, nested=True, tags=tags)
        now = int(time.time() * 1000)
        params = [Param("family", result.trial.family)] + [Param(k, str(v)) for k, v in result.trial.params.items()]
        values = {"fit_seconds": result.fit_seconds}
        if result.ok:
            values |= {f"cv_{self.metric}": result.score, f"cv_{self.metric}_std": result.score_std}
        metrics = [Metric(k, v, now, 0) for k, v in values.items()]
        metrics += [Metric(f"cv_{self.metric}_fold", s, now, fold) for fold, s in enumerate(result.fold_scores)]
        MlflowClient().log_batch(child.info.run_id, metrics=metrics, params=params)
        mlflow.end_run("FINISHED" if result.ok else "FAILED")
        self.run_ids.append(child.info.run_id)
        self.seconds += time.perf_counter() - started


def run(cfg: Config, processed: Path = PROCESSED, output: Path = OUTPUT) -> dict[str, Any]:
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    families = [candidate.family for candidate in cfg.train.search.candidates]
    device = models.resolve_device(cfg.train.device, families)  # first: a wrong device fails before any work
    schema = features.Schema.load(processed / "features.json")
    frame = pd.read_parquet(processed / "train.parquet")
    X, y = features.conform(frame, schema), frame[schema.target]
    trials = search.plan(cfg.train.search, cfg.task, cfg.train.seed)
    metric = cfg.train.metric
    tracking.configure(cfg.tracking)

    with mlflow.start_run(run_name="train") as parent:
        device_tags = {"device": device}
        if device == "cuda":
            device_tags["device.name"] = models.probe_gpu().detail
        mlflow.set_tags(
            {"stage": "train", "task": cfg.task}
            | device_tags
            | tracking.lineage_tags({"train": processed / "train.parquet"}, VALIDATION)
            | {f"version.{name}": v for name, v in library_versions(device).items()}
        )
        mlflow.log_params(
            {
                "search.strategy": cfg.train.search.strategy,
                "search.trials": len(trials),
                "cv_folds": cfg.train.cv_folds,
                "seed": cfg.train.seed,
                "metric": metric,
                "device": device,
                "train_rows": len(X),
            }
        )
        children = ChildRuns(metric, device)
        result = search.run_search(
            trials,
            X,
            y,
            schema,
            metric=metric,
            folds=cfg.train.cv_folds,
            seed=cfg.train.seed,
            max_seconds=cfg.train.search.max_seconds,
            device=device,
            on_trial=children,
        )
        best = result.best()
        best_run_id = children.run_ids[next(i for i, r in enumerate(result.results) if r is best)]
        MlflowClient().set_tag(best_run_id, "search.best", "true")
        started = time.perf_counter()
        model = search.pipeline_for(best.trial, schema, seed=cfg.train.seed, device=device).fit(X, y)
        train_seconds = time.perf_counter() - started
        models.on_cpu(model)  # the logged model predicts on the CPU wherever it is loaded

        mlflow.set_tags({"search.best_run_id": best_run_id, "search.best_trial": best.trial.name})
        mlflow.log_params({"model.family": best.trial.family} | {f"model.{k}": v for k, v in best.trial.params.items()})
        mlflow.log_metrics(
            {
                f"cv_{metric}": best.score,
                f"cv_{metric}_std": best.score_std,
                "train_seconds": train_seconds,
                "search_seconds": result.seconds,
                "search_trials_run": len(result.results),
                "search_trials_failed": sum(not r.ok for r in result.results),
                "search_logging_seconds": children.seconds,
                "search_logging_share": children.seconds / max(result.seconds, 1e-9),
            }
        )
        mlflow.log_table(result.table(), artifact_file="search/results.json")
        figure = search_figure(result)
        mlflow.log_figure(figure, "search/search.png")
        plt.close(figure)

        example = X.head(5)
        signature = infer_signature(example, model.predict(example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=tracking.pip_requirements(),
            skops_trusted_types=tracking.skops_types(model),
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
            "best_trial_run_id": best_run_id,
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(candidate, indent=2, default=str) + "\n")
    log.info(
        "best of %d trials: %s (cv %s %.4f) on %s in %.1f s of search (%.0f%% of it MLflow logging); run %s",
        len(result.results),
        best.trial.name,
        metric,
        best.score,
        device,
        result.seconds,
        100 * children.seconds / max(result.seconds, 1e-9),
        parent.info.run_id,
    )
    return candidate
