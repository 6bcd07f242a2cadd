"""What `train.search.strategy: auto` searches: the families the data calls for and each one's distributions.

``families_for_data`` picks the families from the task, the rows and whether XGBoost is installed;
``suggest`` draws one configuration from an Optuna trial. Parameter names are ``<family>.<parameter>`` in Optuna
(each family's distributions stay its own) and plain parameter names in the trial the search fits.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from ..core.metrics import TASKS

# Above this many training rows the forests leave the search: the winner is refitted on all rows, and fully grown
# trees grow with the rows (memory and fit time), while the pipeline aims at 2 GiB on a 1M-row table.
FOREST_ROWS = 200_000
# A class whose share of the rows is below this counts as rare: class_weight (None | balanced) joins the search.
RARE_CLASS_SHARE = 0.2
SEPARATOR = "."


def families_for_data(task: str, rows: int, *, xgboost: bool | None = None) -> list[str]:
    """The families worth searching for ``rows`` rows of ``task``: linear, HistGradientBoosting, the forests
    (up to FOREST_ROWS rows) and XGBoost where it is installed."""
    chosen = [TASKS[task].linear_family, "hist_gradient_boosting"]
    if rows <= FOREST_ROWS:
        chosen += ["random_forest", "extra_trees"]
    if xgboost if xgboost is not None else importlib.util.find_spec("xgboost") is not None:
        chosen.append("xgboost")
    return chosen


def is_imbalanced(class_shares: Sequence[float]) -> bool:
    return bool(class_shares) and min(class_shares) < RARE_CLASS_SHARE


def _linear(trial: Any, family: str, task: str, weighted: bool) -> dict[str, Any]:
    if task == "regression":
        return {"alpha": trial.suggest_float(f"{family}.alpha", 1e-3, 1e3, log=True)}
    params: dict[str, Any] = {"C": trial.suggest_float(f"{family}.C", 1e-3, 1e2, log=True)}
    if weighted:
        params["class_weight"] = trial.suggest_categorical(f"{family}.class_weight", [None, "balanced"])
    return params


def _boosting(trial: Any, family: str, task: str, weighted: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float(f"{family}.learning_rate", 0.01, 0.3, log=True),
        "max_iter": trial.suggest_int(f"{family}.max_iter", 50, 500, log=True),
        "max_leaf_nodes": trial.suggest_int(f"{family}.max_leaf_nodes", 8, 128, log=True),
        "min_samples_leaf": trial.suggest_int(f"{family}.min_samples_leaf", 5, 200, log=True),
        "l2_regularization": trial.suggest_float(f"{family}.l2_regularization", 1e-6, 10.0, log=True),
    }
    if weighted and task == "classification":
        params["class_weight"] = trial.suggest_categorical(f"{family}.class_weight", [None, "balanced"])
    return params


def _forest(trial: Any, family: str, task: str, weighted: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "n_estimators": trial.suggest_int(f"{family}.n_estimators", 50, 300, log=True),
        "max_features": trial.suggest_float(f"{family}.max_features", 0.1, 1.0),
        "min_samples_leaf": trial.suggest_int(f"{family}.min_samples_leaf", 1, 32, log=True),
    }
    if weighted and task == "classification":
        params["class_weight"] = trial.suggest_categorical(f"{family}.class_weight", [None, "balanced"])
    return params


def _xgboost(trial: Any, family: str, _task: str, _weighted: bool) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int(f"{family}.n_estimators", 50, 600, log=True),
        "learning_rate": trial.suggest_float(f"{family}.learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int(f"{family}.max_depth", 3, 10),
        "subsample": trial.suggest_float(f"{family}.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float(f"{family}.colsample_bytree", 0.5, 1.0),
        "min_child_weight": trial.suggest_float(f"{family}.min_child_weight", 1.0, 20.0, log=True),
        "reg_lambda": trial.suggest_float(f"{family}.reg_lambda", 1e-3, 10.0, log=True),
    }


SPACES = {
    "logistic_regression": _linear,
    "ridge": _linear,
    "hist_gradient_boosting": _boosting,
    "random_forest": _forest,
    "extra_trees": _forest,
    "xgboost": _xgboost,
}


def suggest(trial: Any, families: Sequence[str], task: str, *, weighted: bool) -> tuple[str, dict[str, Any]]:
    """One family and its parameters, drawn by ``trial`` (an optuna.Trial)."""
    family = str(trial.suggest_categorical("family", list(families)))
    return family, SPACES[family](trial, family, task, weighted)


# Tried first when the champion is not (or after it): each family's library defaults, a strong and cheap start on
# most tables (FLAML starts from its learners' low-cost defaults the same way); the sampler draws the rest.
DEFAULTS: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {
        "learning_rate": 0.1,
        "max_iter": 100,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 1e-6,  # 0 in scikit-learn; the log-uniform range starts here
    },
    "ridge": {"alpha": 1.0},
    "logistic_regression": {"C": 1.0},
}


def first_configs(families: Sequence[str]) -> list[dict[str, Any]]:
    """The Optuna parameters of the defaults of ``families`` (boosting before linear; an unlisted parameter, such
    as class_weight, is drawn by the sampler)."""
    return [optuna_config(family, DEFAULTS[family]) for family in DEFAULTS if family in families]


def optuna_config(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """The Optuna parameters that draw ``family`` with ``params`` (a warm start enqueues them)."""
    return {"family": family} | {f"{family}{SEPARATOR}{name}": value for name, value in params.items()}
