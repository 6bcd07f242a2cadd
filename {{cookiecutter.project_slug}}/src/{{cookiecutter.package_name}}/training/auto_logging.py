"""The auto search inside train's MLflow run: the champion's configuration as the warm start, the search, the
study's optimisation history and parameter importances as figures on the parent run, and the ensemble of its best
trials when it wins on CV (training/ensemble.py), recorded on the parent run."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ..core import metrics
from ..core.config import Config
from ..core.schema import Schema
from ..tracking import registry
from . import auto_search, auto_space, ensemble
from .search import SearchResult, TrialResult

log = logging.getLogger(__name__)
BEST_CONFIG_TAG = "search.best_config"  # the parent run's tag: the winner's Optuna parameters (the next warm start)


def _value(text: str) -> Any:
    """A parameter as MLflow stored it (a string) back to its value: '0.1' -> 0.1, 'None' -> None, 'balanced'."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def champion_config(model_name: str) -> dict[str, Any] | None:
    """The Optuna configuration of the registry's `champion`: its run's BEST_CONFIG_TAG, or (a champion from a
    grid search) its family and parameters; None without a champion."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = registry.champion(client, model_name)
    if version is None or not version.run_id:
        return None
    run = client.get_run(version.run_id)
    tagged = run.data.tags.get(BEST_CONFIG_TAG)
    if tagged:
        config: dict[str, Any] = json.loads(tagged)
        return config
    family = run.data.params.get("model.family")
    if family is None:
        return None
    params = {
        name.removeprefix("model."): _value(value)
        for name, value in run.data.params.items()
        if name.startswith("model.") and name != "model.family"
    }
    return auto_space.optuna_config(family, params)


def history_figure(study: Any, metric: str) -> Any:
    """Every complete trial's CV score in the order they ran, and the best so far."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    values = [float(t.value) for t in done]
    best = (pd.Series(values).cummax() if metrics.GREATER_IS_BETTER[metric] else pd.Series(values).cummin()).tolist()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([t.number for t in done], values, "o", color="tab:blue", label="complete trial")
    ax.step([t.number for t in done], best, where="post", color="tab:orange", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"cross-validated {metric}")
    ax.set_title(f"Optimisation history ({len(study.trials)} trials, {len(done)} complete)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def importance_figure(study: Any) -> Any | None:
    """Optuna's parameter importances (fANOVA) over the complete trials; None with too few of them."""
    import optuna

    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as why:
        log.info("no parameter importances: %s", why)
        return None
    if not importances:
        return None
    names, values = list(importances)[::-1], list(importances.values())[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    ax.barh(names, values, color="tab:blue")
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title("Parameter importances")
    fig.tight_layout()
    return fig


def search_and_log(
    cfg: Config,
    X: pd.DataFrame,
    y: pd.Series,
    schema: Schema,
    *,
    device: str,
    data_md5: str,
    on_trial: Callable[[TrialResult], None],
) -> tuple[SearchResult, ensemble.Ensemble | None]:
    """The auto search, warm-started from the champion, with its figures logged on the active run, and the ensemble
    of its best trials where it wins on CV. The study is named after the model and the training data, so runners
    sharing an Optuna storage share one study per data."""
    import mlflow

    search = cfg.train.search
    settings = auto_search.Settings(
        metric=cfg.train.metric,
        folds=cfg.train.cv_folds,
        seed=cfg.train.seed,
        max_seconds=search.max_seconds,
        max_trials=search.max_trials,
        device=device,
        warm_start=champion_config(cfg.tracking.model_name),
        storage=search.storage,
        study_name=f"{cfg.tracking.model_name}-{data_md5[:12]}",
    )
    result, study = auto_search.run(X, y, schema, settings, on_trial=on_trial)
    mlflow.set_tag(BEST_CONFIG_TAG, json.dumps(result.best().config))
    for name, figure in (
        ("history", history_figure(study, settings.metric)),
        ("importances", importance_figure(study)),
    ):
        if figure is not None:
            mlflow.log_figure(figure, f"search/{name}.png")
            plt.close(figure)
    chosen = ensemble.select(result.results, y, schema, settings.metric, folds=settings.folds, seed=settings.seed)
    return result, chosen


def log_ensemble(chosen: ensemble.Ensemble, metric: str, run_ids: dict[int, str]) -> None:
    """The chosen ensemble on the active (parent) run: tag ``search.ensemble`` (its members and weights), metric
    ``cv_<metric>_best_single`` beside its own ``cv_<metric>``, and ``search/ensemble.json`` (each member's trial,
    child run, weight and CV score). ``run_ids``: each trial's child run, by ``id`` of its TrialResult."""
    import mlflow

    mlflow.set_tag("search.ensemble", chosen.name[:5000])
    mlflow.log_metric(f"cv_{metric}_best_single", chosen.best_score)
    members = [
        {"trial": m.trial.name, "run_id": run_ids.get(id(m)), "weight": w, f"cv_{metric}": m.score}
        for m, w in zip(chosen.members, chosen.weights, strict=True)
    ]
    summary = {f"cv_{metric}": chosen.score, f"cv_{metric}_best_single": chosen.best_score, "members": members}
    mlflow.log_dict(summary | {f"cv_{metric}_fold": list(chosen.fold_scores)}, "search/ensemble.json")
