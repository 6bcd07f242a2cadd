"""Model families the search can try, by the name used in params.yaml (train.search.candidates[].family).

Each family builds a scikit-learn compatible estimator; train wraps it in a Pipeline behind the
preprocessing from features.py, so the logged model takes raw feature columns.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from .config import UserError

log = logging.getLogger(__name__)


class DeviceError(UserError):
    """The requested training device is not available."""


@dataclass(frozen=True)
class Family:
    classification: Callable[..., BaseEstimator] | None
    regression: Callable[..., BaseEstimator] | None
    seeded: bool = True
    uses_device: bool = False


def _xgboost(task: str) -> Callable[..., BaseEstimator]:
    def build(**params: Any) -> BaseEstimator:
        if importlib.util.find_spec("xgboost") is None:
            raise UserError("family 'xgboost' needs the xgboost package: pip install -e '.[gpu]'")
        import xgboost

        cls = xgboost.XGBClassifier if task == "classification" else xgboost.XGBRegressor
        return cls(tree_method="hist", **params)

    return build


FAMILIES: dict[str, Family] = {
    "logistic_regression": Family(lambda **p: LogisticRegression(max_iter=2000, **p), None),
    "ridge": Family(None, Ridge),
    "random_forest": Family(
        lambda **p: RandomForestClassifier(n_jobs=-1, **p), lambda **p: RandomForestRegressor(n_jobs=-1, **p)
    ),
    "hist_gradient_boosting": Family(HistGradientBoostingClassifier, HistGradientBoostingRegressor),
    "xgboost": Family(_xgboost("classification"), _xgboost("regression"), uses_device=True),
    "dummy": Family(DummyClassifier, DummyRegressor, seeded=False),
}


def gpu_visible() -> bool:
    """True when nvidia-smi lists at least one GPU."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def resolve_device(requested: str) -> str:
    """auto -> cuda when a GPU is visible, else cpu; cuda without a GPU is an error."""
    visible = gpu_visible()
    if requested == "cuda" and not visible:
        raise DeviceError("train.device is 'cuda' but no GPU is visible (nvidia-smi lists none); use 'auto' or 'cpu'")
    device = "cuda" if requested == "cuda" or (requested == "auto" and visible) else "cpu"
    log.info("training device: %s (requested %s, GPU visible: %s)", device, requested, visible)
    return device


def families_for(task: str) -> list[str]:
    return [name for name, family in FAMILIES.items() if getattr(family, task) is not None]


def build(family: str, task: str, params: dict[str, Any], *, seed: int, device: str = "cpu") -> BaseEstimator:
    """An unfitted estimator of ``family`` for ``task`` with ``params``."""
    if family not in FAMILIES or getattr(FAMILIES[family], task) is None:
        raise UserError(f"unknown {task} model family {family!r}; choose from {', '.join(families_for(task))}")
    spec = FAMILIES[family]
    extra: dict[str, Any] = {}
    if spec.seeded:
        extra["random_state"] = seed
    if spec.uses_device:
        extra["device"] = device
    return getattr(spec, task)(**extra, **params)
