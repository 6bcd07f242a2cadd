"""The process that fits the auto search's trials, so that a fit still running when the budget ends can be stopped.

A running scikit-learn fit cannot be interrupted from its own process; a process can be killed. ``Worker`` starts one
(spawned: no OpenMP state inherited through fork), sends it the training table once, then asks it for fold scores
one rung at a time. ``evaluate`` waits at most until the deadline; past it the worker is killed and the caller
records the trial as cut.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pandas as pd

from ..core.environment import THREADS
from ..core.schema import Schema


@dataclass(frozen=True)
class Table:
    X: pd.DataFrame
    y: pd.Series
    schema: Schema
    metric: str
    folds: int
    seed: int
    device: str


@dataclass(frozen=True)
class Request:
    family: str
    params: dict[str, Any]
    rows: int  # the first ``rows`` of the search's seeded row order (each rung's rows contain the last rung's)
    fold_start: int
    fold_stop: int
    out_of_fold: bool = False  # also send each fold's test rows' probabilities (a classifier) or predictions


@dataclass(frozen=True)
class Answer:
    scores: list[float]
    seconds: float
    error: str | None = None
    # Request.out_of_fold: rows x classes (rows x 1: predictions), each scored fold's test rows filled, NaN elsewhere
    out_of_fold: np.ndarray | None = None


def fold_scores(table: Table, order: np.ndarray, request: Request) -> tuple[list[float], np.ndarray | None]:
    """The metric on folds fold_start..fold_stop-1 of the seeded folds of the first ``rows`` rows in ``order``, and
    (Request.out_of_fold) the probabilities (a classifier) or predictions (a regressor) of those folds' test rows."""
    from sklearn.base import clone
    from sklearn.metrics import check_scoring

    from ..core import metrics
    from . import models
    from .search import Trial, pipeline_for

    rows = order[: request.rows]
    X, y = table.X.iloc[rows], table.y.iloc[rows]
    splits = list(metrics.TASKS[table.schema.task].folds(table.folds, table.seed).split(X, y))
    pipeline = pipeline_for(Trial(request.family, request.params), table.schema, seed=table.seed, device=table.device)
    scorer = check_scoring(
        pipeline, scoring=metrics.cv_scorer(table.metric, table.schema.classes, table.schema.positive_class)
    )
    scores = []
    has_classes = metrics.TASKS[table.schema.task].has_classes
    columns = len(table.schema.classes) if has_classes else 1
    out_of_fold = np.full((request.rows, columns), np.nan) if request.out_of_fold else None
    with models.threads_for(request.rows):
        for fit_rows, test_rows in splits[request.fold_start : request.fold_stop]:
            fitted = clone(pipeline).fit(X.iloc[fit_rows], y.iloc[fit_rows])
            scores.append(metrics.from_scorer(table.metric, scorer(fitted, X.iloc[test_rows], y.iloc[test_rows])))
            if out_of_fold is not None:
                test = X.iloc[test_rows]
                out_of_fold[test_rows] = fitted.predict_proba(test) if has_classes else fitted.predict(test)[:, None]
    return scores, out_of_fold


READY = "ready"


def serve(connection: Connection) -> None:
    """The worker's loop: the table first (answered READY), then one Answer per Request until the parent closes
    the pipe."""
    import warnings

    warnings.filterwarnings("ignore")  # convergence and the like: the score says what matters, once, in the parent
    table: Table = connection.recv()
    order = np.random.default_rng(table.seed).permutation(len(table.X))
    from . import search  # noqa: F401  (scikit-learn's import, a second or more, before the worker says it is ready)

    connection.send(READY)
    while True:
        try:
            request: Request = connection.recv()
        except EOFError:
            return
        started = time.perf_counter()
        try:
            scores, out_of_fold = fold_scores(table, order, request)
        except Exception as error:  # one bad configuration must not cost the rest of the search
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            connection.send(Answer([], time.perf_counter() - started, f"{type(error).__name__}: {first}"))
        else:
            connection.send(Answer(scores, time.perf_counter() - started, out_of_fold=out_of_fold))


class Cut(Exception):
    """The deadline came while the worker was fitting: it was killed."""


class Worker:
    def __init__(self, table: Table) -> None:
        for variable, value in THREADS.items():  # the spawned worker's OpenMP reads them when it starts
            os.environ.setdefault(variable, value)
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child,), daemon=True, name="auto-search-worker")
        self.process.start()
        child.close()
        self.connection.send(table)
        # READY: imported and holding the table; EOFError: it died on the way (out of memory, say), and the search
        # starts another before the first evaluate
        with contextlib.suppress(EOFError):
            self.connection.recv()

    def evaluate(self, request: Request, deadline: float) -> Answer:
        """The worker's answer, or Cut when ``deadline`` (time.perf_counter()) passes first."""
        self.connection.send(request)
        wait = None if deadline == math.inf else max(deadline - time.perf_counter(), 0.0)
        if not self.connection.poll(wait):
            self.stop()
            raise Cut
        try:
            answer: Answer = self.connection.recv()
        except EOFError:  # the worker died (out of memory, say): the trial fails, a new worker takes the next
            self.stop()
            return Answer([], 0.0, f"the worker process ended (exit code {self.process.exitcode})")
        return answer

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
