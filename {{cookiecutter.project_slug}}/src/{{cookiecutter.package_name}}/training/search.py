"""Model search: expand the candidates of params.yaml into trials and cross-validate each one.

``plan`` is pure (which trials, in which order); ``run_search`` fits them and reports each trial through a
callback, which train uses to log every trial as a nested MLflow child run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import ParameterGrid, ParameterSampler, cross_validate
from sklearn.pipeline import Pipeline

from ..core import metrics
from ..core.config import Search
from ..core.errors import UserError
from ..core.schema import Schema
from . import models
from .features import preprocessor

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
    error: str | None = None  # why the trial failed; its score is then NaN and it can never be the best
    # auto: complete (every rung), pruned (stopped by successive halving), cut (stopped by the budget) or failed;
    # rows and folds: the fidelity it reached (its score is on those)
    state: str = "complete"
    rows: int | None = None
    folds: int | None = None
    config: dict[str, Any] = field(default_factory=dict)  # auto: the Optuna parameters (a warm start enqueues them)
    # auto, a complete trial: probabilities (a classifier) or predictions (rows x 1) of the top rung's rows out of
    # fold, kept for a few trials (ensemble.keep_out_of_fold): threshold.tune and ensemble.select reuse them
    out_of_fold: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and math.isfinite(self.score) and self.state == "complete"


@dataclass
class SearchResult:
    metric: str
    results: list[TrialResult]
    seconds: float
    stopped_early: bool
    # auto: seconds until the first trial ended (its first rung, which the budget cannot cut)
    first_trial_seconds: float = 0.0
    start_seconds: float = 0.0  # auto: starting the worker and sending it the table, before the budget's clock

    def best(self) -> TrialResult:
        """The trial with the best cross-validated metric; on a tie, the one that ran first.

        When no trial completed (an auto search whose budget ended on the lower rungs), the best of those that
        reached the highest fidelity: their scores are on the same rows and folds.
        """
        scored = [r for r in self.results if r.ok]
        if not scored:
            reached = [r for r in self.results if r.error is None and math.isfinite(r.score)]
            top = max(((r.rows or 0) * (r.folds or 0) for r in reached), default=0)
            scored = [r for r in reached if (r.rows or 0) * (r.folds or 0) == top]
        if not scored:
            failures = "; ".join(f"{r.trial.name}: {r.error or r.state}" for r in self.results)
            raise UserError(f"every trial of the search failed: {failures}")
        sign = 1 if metrics.GREATER_IS_BETTER[self.metric] else -1
        return max(scored, key=lambda r: sign * r.score)

    def table(self) -> pd.DataFrame:
        """One row per trial, in the order they ran, with a rank by the metric (1 = best; failed trials none)."""
        table = pd.DataFrame(
            [
                {
                    "trial": r.trial.name,
                    "family": r.trial.family,
                    **{f"param_{k}": v for k, v in r.trial.params.items()},
                    f"cv_{self.metric}": r.score,
                    f"cv_{self.metric}_std": r.score_std,
                    "fit_seconds": r.fit_seconds,
                    "error": r.error or "",
                }
                for r in self.results
            ]
        )
        ranks = table[f"cv_{self.metric}"].rank(ascending=not metrics.GREATER_IS_BETTER[self.metric], method="first")
        table.insert(0, "rank", pd.Series([None if math.isnan(r) else int(r) for r in ranks], dtype=object))
        return table


def _combinations(params: dict[str, list[Any]], strategy: str, max_trials: int, seed: int) -> list[dict[str, Any]]:
    """Every combination (grid), or up to max_trials distinct random draws from the lists (random)."""
    if not params:
        return [{}]
    grid = ParameterGrid(params)
    if strategy == "grid" or len(grid) <= max_trials:
        combos = list(grid)
        if strategy == "random":  # the whole space fits the budget: every point, in a seeded order
            combos = [combos[i] for i in np.random.default_rng(seed).permutation(len(combos))]
        return combos
    return list(ParameterSampler(params, n_iter=max_trials, random_state=seed))


def plan(search: Search, task: str, seed: int) -> list[Trial]:
    """Every trial of the search in a fixed order, taking turns between the candidates.

    grid: every combination of each candidate's lists; random: up to max_trials draws per candidate, seeded.
    Taking turns means that max_trials, or a max_seconds budget that stops the search early, still leaves
    every family tried. Unknown families and parameters fail here, before any fitting.
    """
    per_candidate: list[list[Trial]] = []
    limit = search.max_trials or 1_000_000
    for index, candidate in enumerate(search.candidates):
        models.check_params(candidate.family, task, candidate.params)
        combos = _combinations(candidate.params, search.strategy, limit, seed + index)
        per_candidate.append([Trial(candidate.family, dict(sorted(c.items()))) for c in combos])
    trials = [trial for turn in zip_longest(*per_candidate) for trial in turn if trial is not None]
    if len(trials) > limit:
        log.warning(
            "the search has %d trials; train.search.max_trials = %d keeps the first %d (candidates take turns)",
            len(trials),
            limit,
            limit,
        )
    return trials[:limit]


def pipeline_for(trial: Trial, schema: Schema, *, seed: int, device: str = "cpu") -> Pipeline:
    estimator = models.build(trial.family, schema.task, trial.params, seed=seed, device=device, classes=schema.classes)
    scale = models.FAMILIES[trial.family].scale_inputs
    return Pipeline([("preprocess", preprocessor(schema, scale=scale)), ("model", estimator)])


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
    """Cross-validate each trial until all are done or max_seconds has passed (the running one finishes).

    Every trial uses the same seeded folds, so their scores compare like with like. A trial that raises (a
    parameter value its estimator rejects, say) is reported with its error and the search goes on.
    """
    splitter = metrics.TASKS[schema.task].folds(folds, seed)
    scorer = metrics.cv_scorer(metric, schema.classes, schema.positive_class)
    started = time.perf_counter()
    results: list[TrialResult] = []
    stopped_early = False
    for index, trial in enumerate(trials):
        if index and time.perf_counter() - started > max_seconds:
            stopped_early = True
            log.warning("search budget of %.0f s spent: %d of %d trials ran", max_seconds, index, len(trials))
            break
        t0 = time.perf_counter()
        try:
            with models.threads_for(len(X)):
                cv = cross_validate(
                    pipeline_for(trial, schema, seed=seed, device=device),
                    X,
                    y,
                    cv=splitter,
                    scoring=scorer,
                    error_score="raise",
                )
        except Exception as error:  # one bad combination must not cost the rest of the search
            message = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            result = TrialResult(trial, math.nan, math.nan, time.perf_counter() - t0, error=message)
            log.warning("trial %d/%d %s failed: %s", index + 1, len(trials), trial.name, message)
        else:
            scores = [metrics.from_scorer(metric, s) for s in cv["test_score"]]
            result = TrialResult(trial, float(np.mean(scores)), float(np.std(scores)), time.perf_counter() - t0, scores)
            log.info("trial %d/%d %s: cv %s = %.4f", index + 1, len(trials), trial.name, metric, result.score)
        results.append(result)
        if on_trial is not None:
            on_trial(result)
    return SearchResult(metric, results, time.perf_counter() - started, stopped_early)
