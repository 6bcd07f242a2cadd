"""`train.search.strategy: auto`: seeded Optuna TPE over families and distributions, successive halving on
growing row samples (or folds, on small tables), within max_seconds.

Each trial climbs the rungs of ``ladder``: row samples that grow threefold up to SEARCH_ROWS, each scored on one
fold of the same seeded folds (a holdout of the sample), then every fold of the largest sample; on a table too small
for two row rungs, one fold then all folds.
Optuna's successive-halving pruner stops a trial whose rung score is not among the best third of that rung so
far. The fits run in a worker process (auto_worker.py): when the budget ends mid-fit the worker is killed, the
trial is recorded as cut and the search returns at once. The worker is started (and sent the table) before the
budget's clock starts: its start is reported apart. The winner is refitted on all rows by the caller. The top rung's
out-of-fold outputs of a few complete trials are kept for the threshold and an ensemble (training/ensemble.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core import metrics
from ..core.schema import Schema
from . import auto_space, ensemble, threshold
from .auto_worker import Cut, Request, Table, Worker
from .search import SearchResult, Trial, TrialResult

log = logging.getLogger(__name__)
# Rows searched at most: a larger table is searched on a seeded sample of this many rows and the winner refitted
# on all of them. The threshold's sample (the same rows, folds and fits): the winner's (or ensemble's) out-of-fold
# probabilities on the top rung tune it without fitting again.
SEARCH_ROWS = threshold.TUNING_ROWS
FIRST_ROWS = 1_000  # the smallest row rung
GROWTH = 3  # each rung has this many times the rows of the last; the pruner keeps the best 1/GROWTH of a rung


@dataclass(frozen=True)
class Rung:
    rows: int
    folds: int  # folds scored up to this rung (a rung on the same rows as the last one scores only the new ones)


def ladder(rows: int, folds: int) -> list[Rung]:
    """The fidelities a trial climbs: row samples growing by GROWTH up to min(rows, SEARCH_ROWS), one fold each,
    then every fold of the largest (a trial pruned below the top costs one fit per rung, not ``folds``)."""
    top = min(rows, SEARCH_ROWS)
    sizes = [top]
    while sizes[0] // GROWTH >= FIRST_ROWS:
        sizes.insert(0, sizes[0] // GROWTH)
    return [Rung(size, 1) for size in sizes] + [Rung(top, folds)]


@dataclass
class Settings:
    metric: str
    folds: int
    seed: int
    max_seconds: float
    max_trials: int | None = None
    device: str = "cpu"
    families: tuple[str, ...] = ()  # empty: auto_space.families_for_data
    warm_start: dict[str, Any] | None = None  # an Optuna configuration tried first (the champion's)
    storage: str | None = None  # an Optuna RDB URL several runners share; None: in memory
    study_name: str = "search"


def _study(settings: Settings, families: list[str]) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=settings.study_name,
        storage=settings.storage,
        load_if_exists=settings.storage is not None,
        direction="maximize" if metrics.GREATER_IS_BETTER[settings.metric] else "minimize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=GROWTH),
    )
    if settings.warm_start and settings.warm_start.get("family") in families:
        log.info("warm start: the champion's configuration is the first trial: %s", settings.warm_start)
        study.enqueue_trial(settings.warm_start, skip_if_exists=True)
    elif settings.warm_start:
        log.info("no warm start: the champion's family %s is not searched here", settings.warm_start.get("family"))
    for config in auto_space.first_configs(families):
        study.enqueue_trial(config, skip_if_exists=True)
    return study


def _next_rung_seconds(rungs: list[Rung], index: int, done: int, seconds: float) -> float:
    """What rung ``index + 1`` would take, from the ``seconds`` rung ``index`` took for its ``done`` new folds:
    fit time taken as proportional to rows and folds. Only the next rung: fixed costs make a small rung's time a
    poor guide further up, and the estimate that matters most, all folds of the top rows, is made from one fold
    of the same rows."""
    this, after = rungs[index], rungs[index + 1]
    new_folds = after.folds - this.folds if after.rows == this.rows else after.folds
    return seconds / max(done, 1) * after.rows / this.rows * new_folds


def _climb(
    worker: Worker, trial: Any, family: str, params: dict[str, Any], rungs: list[Rung], deadline: float, first: bool
) -> tuple[str, list[float], Rung, str | None, np.ndarray | None]:
    """Score one trial rung by rung: (state, fold scores of the last rung reached, that rung, error, out-of-fold
    probabilities or predictions of the top rung's rows when it completed). ``first``: no trial has a score yet, so this one's
    first rung runs to its end whatever the deadline (a search that ends without any score has no model to give;
    a first rung is at most FIRST_ROWS x 3 rows or one fold)."""
    scores: list[float] = []
    out_of_fold = None
    for index, rung in enumerate(rungs):
        same_rows = index > 0 and rungs[index - 1].rows == rung.rows
        start = len(scores) if same_rows else 0
        until = math.inf if first and index == 0 else deadline
        top = rung.rows == rungs[-1].rows
        try:
            answer = worker.evaluate(Request(family, params, rung.rows, start, rung.folds, out_of_fold=top), until)
        except Cut:  # the scores of the rungs it finished stand
            return "cut", scores, rungs[index - 1] if index else rung, None, None
        if answer.error is not None:
            return "failed", scores, rung, answer.error, None
        scores = (scores if same_rows else []) + answer.scores
        if answer.out_of_fold is not None:  # the folds scored now fill their rows; the earlier ones stay
            new = answer.out_of_fold
            out_of_fold = new if out_of_fold is None or not same_rows else np.where(np.isnan(new), out_of_fold, new)
        trial.report(float(np.mean(scores)), step=GROWTH**index)
        if index < len(rungs) - 1 and trial.should_prune():
            return "pruned", scores, rung, None, None
        if index < len(rungs) - 1:
            ahead = _next_rung_seconds(rungs, index, len(answer.scores), answer.seconds)
            if time.perf_counter() + ahead > deadline:  # it would be cut: leave the time to other trials
                log.info("%s: its next rung needs about %.0f s, more than the budget has left: pruned", family, ahead)
                return "pruned", scores, rung, None, None
    return "complete", scores, rungs[-1], None, out_of_fold


def run(
    X: pd.DataFrame,
    y: pd.Series,
    schema: Schema,
    settings: Settings,
    *,
    on_trial: Callable[[TrialResult], None] | None = None,
) -> tuple[SearchResult, Any]:
    """Search until max_seconds (a running fit is cut) or max_trials; every trial reported through ``on_trial``.
    Returns the search and the Optuna study (for its figures)."""
    import optuna

    classes = y.value_counts(normalize=True).tolist() if metrics.TASKS[schema.task].has_classes else []
    weighted = auto_space.is_imbalanced(classes)
    families = list(settings.families) or auto_space.families_for_data(schema.task, len(X))
    rungs = ladder(len(X), settings.folds)
    log.info(
        "auto search over %s on %d rows (rungs: %s), %.0f s budget%s",
        ", ".join(families),
        len(X),
        ", ".join(f"{r.rows} rows x {r.folds} folds" for r in rungs),
        settings.max_seconds,
        "; class_weight searched (a rare class)" if weighted else "",
    )
    study = _study(settings, families)
    table = Table(X, y, schema, settings.metric, settings.folds, settings.seed, settings.device)
    start = time.perf_counter()
    worker: Worker | None = Worker(table)
    started = time.perf_counter()  # the budget's clock: the worker's start is outside it
    deadline = started + settings.max_seconds
    log.info("search worker started in %.1f s (outside the budget)", started - start)
    results: list[TrialResult] = []
    stopped_early = False
    first_trial_seconds = 0.0
    try:
        while settings.max_trials is None or len(results) < settings.max_trials:
            if time.perf_counter() >= deadline:
                stopped_early = True
                break
            if worker is None or not worker.alive:
                worker = Worker(table)
            trial = study.ask()
            family, params = auto_space.suggest(trial, families, schema.task, weighted=weighted)
            t0 = time.perf_counter()
            first = not any(math.isfinite(r.score) for r in results)
            state, scores, rung, error, out_of_fold = _climb(worker, trial, family, params, rungs, deadline, first)
            stopped_early = stopped_early or state == "cut"
            score = float(np.mean(scores)) if scores else math.nan
            result = TrialResult(
                Trial(family, dict(sorted(params.items()))),
                score,
                float(np.std(scores)) if scores else math.nan,
                time.perf_counter() - t0,
                scores,
                error=error,
                state=state,
                rows=rung.rows,
                folds=len(scores),
                config=dict(trial.params),
                out_of_fold=out_of_fold,
            )
            states = optuna.trial.TrialState
            told = {"complete": states.COMPLETE, "failed": states.FAIL}.get(state, states.PRUNED)
            study.tell(trial, score if state == "complete" else None, state=told)
            log.info(
                "trial %d %s: %s, cv %s = %.4f on %d rows",
                len(results) + 1,
                result.trial.name,
                state,
                settings.metric,
                score,
                rung.rows,
            )
            results.append(result)
            ensemble.keep_out_of_fold(results, settings.metric)  # the few an ensemble may combine
            first_trial_seconds = first_trial_seconds or time.perf_counter() - started
            if on_trial is not None:
                on_trial(result)
            if state == "cut":
                log.warning("search budget of %.0f s spent: trial %d was cut", settings.max_seconds, len(results))
                break
    finally:
        if worker is not None:
            worker.stop()
    seconds = time.perf_counter() - started
    if seconds > 1.1 * settings.max_seconds:
        log.warning(
            "the search took %.1f s of its %.0f s budget: its first trial took %.1f s (a first rung always runs to "
            "its end)",
            seconds,
            settings.max_seconds,
            first_trial_seconds,
        )
    searched = SearchResult(settings.metric, results, seconds, stopped_early, first_trial_seconds, started - start)
    return searched, study
