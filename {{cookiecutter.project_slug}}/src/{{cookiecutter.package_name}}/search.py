"""Model search: expand the candidates of params.yaml into trials and cross-validate each one.

``plan`` is pure (which trials, in which order); ``run_search`` fits them and reports each trial through a
callback, which train uses to log every trial as a nested MLflow child run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, ParameterGrid, ParameterSampler, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from . import metrics, models
from .config import Search
from .features import Schema, preprocessor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    family: str
    params: dict[str, Any]

    @property
    def name(self) -> str:
        settings = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.family}({settings})"


@dataclass
class TrialResult:
    trial: Trial
    score: float
    score_std: float
    fit_seconds: float
    fold_scores: list[float] = field(default_factory=list)


@dataclass
class SearchResult:
    metric: str
    results: list[TrialResult]
    seconds: float
    stopped_early: bool

    def best(self) -> TrialResult:
        sign = 1 if metrics.GREATER_IS_BETTER[self.metric] else -1
        return max(self.results, key=lambda r: sign * r.score)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"trial": r.trial.name, "family": r.trial.family, **{f"param_{k}": v for k, v in r.trial.params.items()},
                 f"cv_{self.metric}": r.score, f"cv_{self.metric}_std": r.score_std, "fit_seconds": r.fit_seconds}
                for r in self.results
            ]
        )


def plan(search: Search, task: str, seed: int) -> list[Trial]:
    """Every trial of the search in a fixed order: the full grid, or max_trials random draws."""
    for candidate in search.candidates:
        models.build(candidate.family, task, {}, seed=seed)  # unknown family: fail before any fitting
    trials: list[Trial] = []
    for candidate in search.candidates:
        grid = candidate.params or {}
        if search.strategy == "grid":
            combos = list(ParameterGrid(grid)) if grid else [{}]
        else:
            combos = list(ParameterSampler(grid, n_iter=search.max_trials, random_state=seed)) if grid else [{}]
        trials += [Trial(candidate.family, dict(sorted(c.items()))) for c in combos]
    if search.strategy == "random":
        order = np.random.default_rng(seed).permutation(len(trials))
        trials = [trials[i] for i in order]
    return trials[: search.max_trials]


def pipeline_for(trial: Trial, schema: Schema, *, seed: int, device: str = "cpu") -> Pipeline:
    estimator = models.build(trial.family, schema.task, trial.params, seed=seed, device=device)
    return Pipeline([("preprocess", preprocessor(schema)), ("model", estimator)])


def run_search(
    trials: list[Trial],
    X: pd.DataFrame,
    y: pd.Series,
    schema: Schema,
    *,
    metric: str,
    folds: int,
    seed: int,
    max_seconds: float,
    device: str = "cpu",
    on_trial: Callable[[TrialResult], None] | None = None,
) -> SearchResult:
    """Cross-validate each trial until all are done or max_seconds has passed (the running one finishes)."""
    splitter_cls = StratifiedKFold if schema.task == "classification" else KFold
    splitter = splitter_cls(n_splits=folds, shuffle=True, random_state=seed)
    scorer = metrics.sklearn_scorer(metric, n_classes=len(schema.classes))
    started = time.perf_counter()
    results: list[TrialResult] = []
    stopped_early = False
    for index, trial in enumerate(trials):
        if index and time.perf_counter() - started > max_seconds:
            stopped_early = True
            log.warning("search budget of %.0f s spent: %d of %d trials ran", max_seconds, index, len(trials))
            break
        t0 = time.perf_counter()
        cv = cross_validate(pipeline_for(trial, schema, seed=seed, device=device), X, y, cv=splitter, scoring=scorer)
        scores = [metrics.from_scorer(metric, s) for s in cv["test_score"]]
        result = TrialResult(trial, float(np.mean(scores)), float(np.std(scores)), time.perf_counter() - t0, scores)
        log.info("trial %d/%d %s: cv %s = %.4f", index + 1, len(trials), trial.name, metric, result.score)
        results.append(result)
        if on_trial is not None:
            on_trial(result)
    return SearchResult(metric, results, time.perf_counter() - started, stopped_early)
