"""train's MLflow run: the search's trials as nested child runs, the best refitted and logged as the run's model.

``search_and_log`` runs inside the parent run train opens: it tags the run with its lineage (code, data,
validation) and the libraries it trained with, logs every trial as a child run (``ChildRuns``), refits the best
trial (or the auto search's ensemble where it won on CV: training/ensemble.py) on the whole training split, and logs
it with its signature, an input example and pinned requirements. It returns the candidate (core/reports.Candidate)
that evaluate and register read.
"""

from __future__ import annotations

import logging
import platform
import time
from importlib import metadata
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ..core.config import Config
from ..core.reports import Candidate
from ..core.schema import Schema
from ..tracking import model_files, registry, runs
from . import auto_logging, ensemble, models, search, threshold

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
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


def search_figure(result: search.SearchResult) -> Figure:
    """Cross-validated score of every trial with its spread over the folds, best highlighted.

    Points with error bars on an axis fitted to the scores (not bars from 0), so close trials stay apart.
    """
    table = result.table()
    best = result.best().trial.name
    scores, spread = table[f"cv_{result.metric}"], table[f"cv_{result.metric}_std"].fillna(0)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(table) + 1.5))
    for position, (name, score, std) in enumerate(zip(table["trial"], scores, spread, strict=True)):
        color = "tab:orange" if name == best else "tab:blue"
        ax.errorbar(score, position, xerr=std, fmt="o", color=color, capsize=3)
        if score == score:  # failed trials (NaN) have no point
            ax.annotate(
                f"{score:.4f}", (score, position), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8
            )
    low, high = (scores - spread).min(), (scores + spread).max()
    pad = max(high - low, 1e-4) * 0.1
    ax.set_xlim(low - pad, high + pad)
    ax.set_yticks(range(len(table)), table["trial"])
    ax.set_xlabel(f"cross-validated {result.metric} (mean ± std over folds)")
    ax.set_title("Model search (best in orange)")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def log_threshold(schema: Schema, tuned: threshold.Tuned) -> None:
    """The decision rule on the run: the positive class and the tuned threshold (params), its out-of-fold scores
    (metrics ``threshold_cv_*``), and the feature schema that carries both (the `features.json` artifact)."""
    import mlflow

    rule = schema.with_threshold(tuned.threshold)
    params = {"positive_class": schema.positive_class} if schema.positive_class is not None else {}
    if tuned.threshold is not None:
        params |= {"threshold": tuned.threshold.value, "threshold.objective": tuned.threshold.objective}
    mlflow.log_params(params)
    mlflow.log_metrics({f"threshold_cv_{name}": value for name, value in tuned.scores.items()})
    mlflow.log_dict(rule.to_dict(), registry.SCHEMA_ARTIFACT)


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
        parent = mlflow.active_run()
        if parent is None:
            raise RuntimeError("search trials are logged inside the search's parent run")
        # The child run spans the trial's fit: it ends now and started fit_seconds ago, so the UI's durations are
        # the fit times (search/results.json has the same numbers).
        end = int(time.time() * 1000)
        start = end - round(result.fit_seconds * 1000)
        tags = {
            "mlflow.parentRunId": parent.info.run_id,
            "search.family": result.trial.family,
            "search.state": "failed" if result.error else result.state,
            "device": self.device if models.uses_device(result.trial.family) else "cpu",
        }
        if result.error:
            tags["search.error"] = result.error[:5000]
        client = MlflowClient()
        child = client.create_run(parent.info.experiment_id, start_time=start, tags=tags, run_name=result.trial.name)
        params = [Param("family", result.trial.family)] + [Param(k, str(v)) for k, v in result.trial.params.items()]
        values = {"fit_seconds": result.fit_seconds}
        if result.rows is not None:  # the fidelity reached (auto): its score is on these rows and folds
            values |= {"fidelity_rows": result.rows, "fidelity_folds": float(result.folds or 0)}
        if result.error is None and result.fold_scores:
            values |= {f"cv_{self.metric}": result.score, f"cv_{self.metric}_std": result.score_std}
        metrics = [Metric(k, v, end, 0) for k, v in values.items()]
        metrics += [Metric(f"cv_{self.metric}_fold", s, end, fold) for fold, s in enumerate(result.fold_scores)]
        client.log_batch(child.info.run_id, metrics=metrics, params=params)
        status = "FAILED" if result.error else "FINISHED" if result.state == "complete" else "KILLED"
        client.set_terminated(child.info.run_id, status, end_time=end)
        self.run_ids.append(child.info.run_id)
        self.seconds += time.perf_counter() - started


def search_and_log(
    cfg: Config,
    frame: pd.DataFrame,
    X: pd.DataFrame,
    schema: Schema,
    trials: list[search.Trial],
    *,
    device: str,
    data_md5: str,
) -> Candidate:
    """The search, the refit and the logged model, in the active (parent) run; the candidate it makes. ``frame``:
    the training split as read (logged as the run's dataset), ``X``: its features conformed to ``schema``."""
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    parent = mlflow.active_run()
    if parent is None:
        raise RuntimeError("the search is logged inside train's parent run")
    metric, train_path = cfg.train.metric, cfg.paths.train
    y = frame[schema.target]
    runs.log_dataset(frame, train_path, "training", target=schema.target)
    device_tags = {"device": device}
    if device == "cuda":
        device_tags["device.name"] = models.probe_gpu().detail
    mlflow.set_tags(
        {"stage": "train", "task": cfg.task}
        | device_tags
        | runs.lineage_tags({"train": train_path}, cfg.paths.validation)
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
    chosen: ensemble.Ensemble | None = None  # the auto search's ensemble, where it won on CV
    if cfg.train.search.strategy == "auto":
        result, chosen = auto_logging.search_and_log(
            cfg, X, y, schema, device=device, data_md5=data_md5, on_trial=children
        )
    else:
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
    best_pipeline = search.pipeline_for(best.trial, schema, seed=cfg.train.seed, device=device)
    out_of_fold = best.out_of_fold if best.ok else None
    if chosen is not None:
        best_pipeline, out_of_fold = chosen.model(schema, seed=cfg.train.seed, device=device), chosen.out_of_fold
    tuned = threshold.tune(
        best_pipeline,
        X,
        y,
        schema,
        cfg.train.threshold,
        folds=cfg.train.cv_folds,
        seed=cfg.train.seed,
        out_of_fold=out_of_fold,
    )
    with models.threads_for(len(X)):
        model = threshold.wrap(best_pipeline, schema, tuned.threshold).fit(X, y)
    train_seconds = time.perf_counter() - started
    models.on_cpu(model)  # the logged model predicts on the CPU wherever it is loaded

    family, params, described = best.trial.family, best.trial.params, best.trial.name
    score, spread = best.score, best.score_std
    if chosen is not None:  # the model is the ensemble: its name, CV score and spread
        family, params, described = "ensemble", chosen.params, chosen.name
        score, spread = chosen.score, chosen.score_std
        auto_logging.log_ensemble(chosen, metric, dict(zip(map(id, result.results), children.run_ids, strict=True)))
    name = runs.run_name(family, data_md5)
    mlflow.set_tags({"search.best_run_id": best_run_id, "search.best_trial": best.trial.name, "mlflow.runName": name})
    mlflow.log_params({"model.family": family} | {f"model.{k}": v for k, v in params.items()})
    mlflow.log_metrics(
        {
            f"cv_{metric}": score,
            f"cv_{metric}_std": spread,
            "train_seconds": train_seconds,
            "search_seconds": result.seconds,
            "search_start_seconds": result.start_seconds,
            "search_trials_run": len(result.results),
            "search_trials_failed": sum(r.error is not None for r in result.results),
            "search_trials_pruned": sum(r.state in ("pruned", "cut") for r in result.results),
            "search_logging_seconds": children.seconds,
            "search_logging_share": children.seconds / max(result.seconds, 1e-9),
        }
    )
    log_threshold(schema, tuned)
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
        pip_requirements=runs.pip_requirements(),
        skops_trusted_types=model_files.refuse_untrusted_types(runs.skops_types(model)),  # what loads trust
    )
    candidate = Candidate.model_validate(
        {
            "run_id": parent.info.run_id,
            "run_name": name,
            "data_md5": data_md5,
            "model_uri": info.model_uri,
            "model_id": info.model_id,
            "family": family,
            "params": params,
            f"cv_{metric}": score,
            "device": device,
            "trials": len(result.results),
            "best_trial_run_id": best_run_id,
            "threshold": tuned.threshold.value if tuned.threshold else None,
            "threshold_objective": tuned.threshold.objective if tuned.threshold else None,
        }
    )
    log.info(
        "best of %d trials: %s (cv %s %.4f) on %s in %.1f s of search (%.0f%% of it MLflow logging), refit in %.1f s;"
        " run %s",
        len(result.results),
        described,
        metric,
        score,
        device,
        result.seconds,
        100 * children.seconds / max(result.seconds, 1e-9),
        train_seconds,
        parent.info.run_id,
    )
    return candidate
