"""Model families the search can try, by the name used in params.yaml (train.search.candidates[].family).

Each family builds a scikit-learn compatible estimator; train wraps it in a Pipeline behind the
preprocessing from training/features.py, so the logged model takes raw feature columns.

Only XGBoost trains on a GPU. ``resolve_device`` turns ``train.device`` (auto | cpu | cuda) into the device
XGBoost is given, asking XGBoost itself whether it can reach a GPU (a CUDA build that sees one), because a
GPU that nvidia-smi lists can still be hidden from the process (CUDA_VISIBLE_DEVICES, containers), and
XGBoost would then quietly train on the CPU.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import LabelEncoder

from ..core.errors import UserError
from ..core.metrics import TASKS

log = logging.getLogger(__name__)
# Below this many rows a fit or a prediction runs on one thread of OpenMP (HistGradientBoosting, scikit-learn's
# kernels) and of BLAS (OpenBLAS under numpy and scipy: LogisticRegression's solver): the threads' start-up and
# spin-waiting cost more than they share out, and on a busy machine they wait on each other. Measured on the default
# project (455 rows, 7 trials x 5 folds, 2 cores, load 2-5): the search took 9-23 s wall / 10.7-19 s CPU with the
# libraries' default threads, 2.5 s / 3.0-5.4 s with one OpenMP thread, 2.8-2.9 s CPU with one BLAS thread as well;
# the scores were identical each time.
ONE_THREAD_ROWS = 20_000


class DeviceError(UserError):
    """The requested training device is not available."""


@dataclass(frozen=True)
class Family:
    classification: Callable[..., BaseEstimator] | None
    regression: Callable[..., BaseEstimator] | None
    seeded: bool = True
    uses_device: bool = False
    needs_label_codes: bool = False  # the classifier only accepts labels 0..k-1 (XGBoost)
    # numbers reach it unscaled (the tree families): a split threshold lies between two training values, and the same
    # value scaled in float32 (the ONNX export) instead of float64 lands on either side of it; trees are indifferent
    # to scale. The template's benchmarks/onnx_parity.py, four tables: with scaled inputs HistGradientBoosting's ONNX
    # probabilities differed from scikit-learn's by up to 0.0032 (0.061 on issue 20's table) and a random forest's by
    # up to 0.03 (its regression values by 3.3); unscaled, by at most 4.2e-07 and 6.6e-07 (values 1.2e-04).
    scale_inputs: bool = True


def _xgboost(task: str) -> Callable[..., BaseEstimator]:
    def build(**params: Any) -> BaseEstimator:
        if importlib.util.find_spec("xgboost") is None:
            raise UserError("family 'xgboost' needs the xgboost package: pip install -e '.[gpu]'")
        import xgboost

        cls = xgboost.XGBClassifier if TASKS[task].has_classes else xgboost.XGBRegressor
        return cls(**({"tree_method": "hist"} | params))

    return build


FAMILIES: dict[str, Family] = {
    "logistic_regression": Family(lambda **p: LogisticRegression(**({"max_iter": 2000} | p)), None),
    "ridge": Family(None, Ridge),
    "random_forest": Family(
        lambda **p: RandomForestClassifier(**({"n_jobs": -1} | p)),
        lambda **p: RandomForestRegressor(**({"n_jobs": -1} | p)),
        scale_inputs=False,
    ),
    "extra_trees": Family(
        lambda **p: ExtraTreesClassifier(**({"n_jobs": -1} | p)),
        lambda **p: ExtraTreesRegressor(**({"n_jobs": -1} | p)),
        scale_inputs=False,
    ),
    "hist_gradient_boosting": Family(HistGradientBoostingClassifier, HistGradientBoostingRegressor, scale_inputs=False),
    "xgboost": Family(
        _xgboost("classification"),
        _xgboost("regression"),
        uses_device=True,
        needs_label_codes=True,
        scale_inputs=False,
    ),
    "dummy": Family(DummyClassifier, DummyRegressor, seeded=False),
}


RESERVED = {"random_state": "train.seed", "device": "train.device"}


class EncodedLabels(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Train a classifier that only accepts labels 0..k-1 on any labels ("yes"/"no", 1/2 ...).

    Fits ``estimator`` on the label codes and answers in the original labels: ``classes_`` and ``predict``
    use them, ``predict_proba`` keeps the estimator's columns, which follow ``classes_``.
    """

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> EncodedLabels:
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.encoder_.transform(y), **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.encoder_.inverse_transform(np.asarray(self.estimator_.predict(X)).astype(int))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(X)


@dataclass(frozen=True)
class GpuProbe:
    visible: bool
    detail: str  # the GPU's name, or why XGBoost cannot train on one here


def _gpu_name() -> str:
    if shutil.which("nvidia-smi") is None:
        return "CUDA device 0"
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "CUDA device 0"
    names = listed.stdout.strip().splitlines()
    return names[0].strip() if listed.returncode == 0 and names else "CUDA device 0"


@functools.cache
def probe_gpu() -> GpuProbe:
    """Ask XGBoost whether it trains on a GPU here: one tiny boosting round on ``cuda``, then read back the device
    it really used (XGBoost falls back to the CPU with only a warning when it finds no GPU)."""
    if importlib.util.find_spec("xgboost") is None:
        return GpuProbe(False, "xgboost is not installed (only XGBoost trains on a GPU; see docs/training.md)")
    import xgboost

    if not xgboost.build_info().get("USE_CUDA"):
        return GpuProbe(False, f"this xgboost {xgboost.__version__} build has no CUDA support")
    try:
        with xgboost.config_context(verbosity=0):
            data = xgboost.DMatrix(np.array([[0.0], [1.0]]), label=np.array([0.0, 1.0]))
            booster = xgboost.train({"device": "cuda", "tree_method": "hist"}, data, num_boost_round=1)
        used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    except xgboost.core.XGBoostError as error:
        return GpuProbe(False, f"XGBoost could not use CUDA: {str(error).splitlines()[0]}")
    if not used.startswith("cuda"):
        return GpuProbe(False, "XGBoost finds no GPU (none installed, or hidden by CUDA_VISIBLE_DEVICES)")
    return GpuProbe(True, _gpu_name())


def gpu_visible() -> bool:
    """True when XGBoost can train on a CUDA GPU from this process."""
    return probe_gpu().visible


def uses_device(family: str) -> bool:
    return family in FAMILIES and FAMILIES[family].uses_device


def resolve_device(requested: str, families: Iterable[str] | None = None) -> str:
    """The device for the families that can use one: auto -> cuda when XGBoost sees a GPU, else cpu.

    ``cuda`` without a usable GPU is an error. ``families`` are the search's candidates: when none of them can
    use a GPU, ``auto`` means the CPU without probing for one.
    """
    gpu_families = sorted({f for f in families if uses_device(f)}) if families is not None else ["xgboost"]
    if requested == "cpu" or (requested == "auto" and not gpu_families):
        log.info(
            "training device: cpu (requested %s%s)", requested, "" if gpu_families else "; no candidate uses a GPU"
        )
        return "cpu"
    if not gpu_visible():
        if requested == "cuda":
            raise DeviceError(
                f"train.device is 'cuda' but no GPU is visible to XGBoost: {probe_gpu().detail}. "
                "Use 'auto' (GPU when there is one) or 'cpu'"
            )
        log.info("training device: cpu (requested auto; no GPU: %s)", probe_gpu().detail)
        return "cpu"
    if not gpu_families:
        log.warning("train.device is cuda, but only xgboost trains on a GPU: these candidates train on the CPU")
    log.info(
        "training device: cuda, %s (requested %s; used by %s)",
        probe_gpu().detail,
        requested,
        ", ".join(gpu_families) or "no candidate",
    )
    return "cuda"


def families_for(task: str) -> list[str]:
    return [name for name, family in FAMILIES.items() if getattr(family, task) is not None]


def build(
    family: str, task: str, params: dict[str, Any], *, seed: int, device: str = "cpu", classes: Sequence[Any] = ()
) -> BaseEstimator:
    """An unfitted estimator of ``family`` for ``task`` with ``params``.

    ``classes`` are the training labels (Schema.classes): a family that needs labels 0..k-1 is wrapped
    in EncodedLabels when they are anything else.
    """
    if family not in FAMILIES or getattr(FAMILIES[family], task) is None:
        raise UserError(f"unknown {task} model family {family!r}; choose from {', '.join(families_for(task))}")
    spec = FAMILIES[family]
    extra: dict[str, Any] = {}
    if spec.seeded:
        extra["random_state"] = seed
    if spec.uses_device:
        extra["device"] = device
    estimator = getattr(spec, task)(**(extra | params))
    if TASKS[task].has_classes and spec.needs_label_codes and list(classes) != list(range(len(classes))):
        return EncodedLabels(estimator)
    return estimator


@contextmanager
def threads_for(rows: int) -> Iterator[None]:
    """Fit or predict on one OpenMP and BLAS thread when ``rows`` is below ONE_THREAD_ROWS; else the defaults."""
    if rows >= ONE_THREAD_ROWS:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def check_params(family: str, task: str, names: Iterable[str]) -> None:
    """Fail with the family's parameter names when params.yaml names one it does not have."""
    reserved = sorted(set(names) & set(RESERVED))
    if reserved:
        raise UserError(f"{family}: {', '.join(f'{n!r} is set by {RESERVED[n]}' for n in reserved)}, not per candidate")
    known = set(build(family, task, {}, seed=0).get_params(deep=False)) - set(RESERVED)
    unknown = sorted(set(names) - known)
    if unknown:
        raise UserError(
            f"{family} has no parameter {', '.join(map(repr, unknown))}; its parameters are {', '.join(sorted(known))}"
        )


def unwrap(model: Any) -> Any:
    """The fitted pipeline inside a FixedThresholdClassifier (a model with a tuned threshold: training/threshold.py);
    any other model as it is."""
    from sklearn.model_selection import FixedThresholdClassifier

    return model.estimator_ if isinstance(model, FixedThresholdClassifier) else model


def is_ensemble(model: Any) -> bool:
    """A VotingClassifier or VotingRegressor of pipelines (training/ensemble.py), bare or inside a tuned threshold."""
    return isinstance(unwrap(model), (VotingClassifier, VotingRegressor))


def members(model: Any) -> list[Any]:
    """The fitted pipelines ``model`` is made of: an ensemble's, or the one pipeline (inside a tuned threshold or
    bare)."""
    model = unwrap(model)
    return list(model.estimators_) if is_ensemble(model) else [model]


def on_cpu(model: Any) -> Any:
    """Point every XGBoost estimator in ``model`` (a Pipeline, an ensemble of them, EncodedLabels or a bare estimator)
    at the CPU.

    train calls it on the refitted best model before logging it, so the model predicts on the CPU wherever it
    is loaded (serving, batch) instead of warning that the GPU it was trained on is missing. Returns ``model``.
    """
    steps = [step for member in members(model) for step in getattr(member, "named_steps", {"model": member}).values()]
    for step in steps:
        for estimator in (step, getattr(step, "estimator", None), getattr(step, "estimator_", None)):
            if estimator is None or not type(estimator).__module__.startswith("xgboost"):
                continue
            if estimator.get_params().get("device") != "cpu":
                estimator.set_params(device="cpu")
    return model
