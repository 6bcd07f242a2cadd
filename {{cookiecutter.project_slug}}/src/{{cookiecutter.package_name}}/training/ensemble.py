"""The auto search's ensemble: a soft vote of its best complete trials, chosen only where it wins on CV.

The search keeps the out-of-fold outputs (probabilities, or predictions as rows x 1) of up to MEMBERS complete
trials (``keep_out_of_fold``: the best of each family first, then the next best), all on the top rung's rows and
the same seeded folds. ``select`` grows a weighted average of them greedily (Caruana et al. 2004, "Ensemble
selection from libraries of models": STEPS picks with replacement, so a member's weight is how often it was picked;
the best-scoring step's vote is kept), scoring each average fold by fold with the search's own scorer, as the trials
were scored. Every metric of core/metrics is
computed from the probabilities (classification: labels are the most probable class) or the predictions, as
scikit-learn's soft vote averages them. The ensemble is chosen only when

- the training table is no larger than the rows searched, so the out-of-fold outputs cover every training row and
  the refit of its members is bounded (auto_search.SEARCH_ROWS rows each), and
- its CV score beats the best single trial's by a real margin: at least MARGIN x max(1, |score|), and more than
  the standard error of its fold-by-fold gains.

Otherwise one log line says why. The model is scikit-learn's VotingClassifier (soft) or VotingRegressor over the
members' pipelines, weighted by the counts, refitted on all rows by train; onnx_voting.py exports it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ..core import metrics
from ..core.schema import Schema
from .search import TrialResult, pipeline_for

log = logging.getLogger(__name__)
MEMBERS = 5  # complete trials whose out-of-fold outputs the search keeps (each up to 100,000 rows x classes floats)
STEPS = 10  # greedy additions; the vote after the best-scoring one is kept (weights in tenths at the finest)
MARGIN = 0.002  # the least gain over the best single trial, x max(1, |its score|)


class _GivenProbabilities(ClassifierMixin, BaseEstimator):
    """Answers the scorer with out-of-fold probabilities handed to it as X (labels: the most probable class)."""

    def __init__(self, classes: Sequence[Any] = ()) -> None:
        self.classes = classes
        self.classes_ = np.asarray(classes)  # as fitted: there is nothing to fit

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(X, axis=1)])


class _GivenPredictions(RegressorMixin, BaseEstimator):
    """Answers the scorer with out-of-fold predictions (rows x 1) handed to it as X."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X[:, 0])


@dataclass(frozen=True)
class Ensemble:
    members: tuple[TrialResult, ...]
    weights: tuple[int, ...]  # how often the selection picked each member
    score: float  # its CV score: the mean of fold_scores, on the search's top rung (every training row)
    fold_scores: tuple[float, ...]
    best_score: float  # the best single trial's CV score, on the same rows and folds
    out_of_fold: np.ndarray = field(repr=False)  # its own: the weighted average of the members'

    @property
    def name(self) -> str:
        votes = ", ".join(f"{w} x {m.trial.name}" for m, w in zip(self.members, self.weights, strict=True))
        return f"ensemble({votes})"

    @property
    def score_std(self) -> float:
        return float(np.std(self.fold_scores))

    @property
    def params(self) -> dict[str, Any]:
        return {"members": [m.trial.name for m in self.members], "weights": list(self.weights)}

    def model(self, schema: Schema, *, seed: int, device: str = "cpu") -> Any:
        """The unfitted soft vote of the members' pipelines (training/search.pipeline_for), weighted by the counts."""
        from sklearn.ensemble import VotingClassifier, VotingRegressor

        pipelines = [
            (f"{member.trial.family}_{index}", pipeline_for(member.trial, schema, seed=seed, device=device))
            for index, member in enumerate(self.members)
        ]
        if metrics.TASKS[schema.task].has_classes:
            return VotingClassifier(pipelines, voting="soft", weights=list(self.weights))
        return VotingRegressor(pipelines, weights=list(self.weights))


def _ranked(results: Sequence[TrialResult], metric: str) -> list[TrialResult]:
    """The complete trials that kept their out-of-fold outputs, best first (on a tie, the one that ran first)."""
    sign = 1 if metrics.GREATER_IS_BETTER[metric] else -1
    return sorted((r for r in results if r.ok and r.out_of_fold is not None), key=lambda r: -sign * r.score)


def keep_out_of_fold(results: Sequence[TrialResult], metric: str) -> None:
    """Only the trials an ensemble may combine keep their out-of-fold outputs: the best of each family (best first),
    then the next best, MEMBERS in all. The best trial is always among them (threshold.tune reuses its outputs).
    A trial dropped once never comes back: the search calls this after every trial."""
    ranked = _ranked(results, metric)
    families: set[str] = set()
    first = []
    for result in ranked:
        if result.trial.family not in families:
            families.add(result.trial.family)
            first.append(result)
    chosen = {id(r) for r in first}
    kept = {id(r) for r in (first + [r for r in ranked if id(r) not in chosen])[:MEMBERS]}
    for result in results:
        if id(result) not in kept:
            result.out_of_fold = None


def _scorer(metric: str, schema: Schema) -> Callable[[np.ndarray, np.ndarray], float]:
    """The search's metric of given outputs against the true classes or values, as the search scored its trials.
    Classes are their positions in ``schema.classes`` (the probabilities' columns; select scores label codes):
    scikit-learn's checks of text labels made a selection over 5 x 100,000 rows take 9-12 s."""
    from sklearn.metrics import get_scorer

    if metrics.TASKS[schema.task].has_classes:
        codes = list(range(len(schema.classes)))
        positive = None if schema.positive_class is None else list(schema.classes).index(schema.positive_class)
        scorer, given = get_scorer(metrics.cv_scorer(metric, codes, positive)), _GivenProbabilities(codes)
    else:
        scorer, given = get_scorer(metrics.cv_scorer(metric)), _GivenPredictions()

    def score(outputs: np.ndarray, truth: np.ndarray) -> float:
        return metrics.from_scorer(metric, scorer(given, outputs, truth))

    return score


def _scores(
    outputs: np.ndarray, truth: np.ndarray, tests: list[np.ndarray], score: Callable[[np.ndarray, np.ndarray], float]
) -> list[float]:
    """The metric on each fold's test rows, from the out-of-fold ``outputs``."""
    return [score(outputs[test], truth[test]) for test in tests]


def _folds(y: pd.Series, schema: Schema, *, folds: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The true classes (codes: positions in ``schema.classes``) or values of the rows in the search's seeded order
    (auto_worker), and each of the search's folds' test rows."""
    searched = y.iloc[np.random.default_rng(seed).permutation(len(y))]
    splits = metrics.TASKS[schema.task].folds(folds, seed).split(np.zeros((len(y), 1)), searched)
    if metrics.TASKS[schema.task].has_classes:
        return np.asarray(pd.Categorical(searched, categories=schema.classes).codes), [test for _, test in splits]
    return np.asarray(searched), [test for _, test in splits]


def select(
    results: Sequence[TrialResult], y: pd.Series, schema: Schema, metric: str, *, folds: int, seed: int
) -> Ensemble | None:
    """The ensemble of the search's kept trials when it beats the best single one by the margin; else None and one
    log line saying why. ``y``: the training target, in the order the search read it."""
    pool = _ranked(results, metric)
    if len(pool) < 2:
        log.info("no ensemble: %d complete trial(s) reached the top rung (it takes two)", len(pool))
        return None
    best = pool[0]
    rows = len(best.out_of_fold) if best.out_of_fold is not None else 0
    if rows != len(y):
        log.info("no ensemble: the search scored %d of the %d training rows (a larger table is sampled)", rows, len(y))
        return None
    truth, tests = _folds(y, schema, folds=folds, seed=seed)
    metric_of = _scorer(metric, schema)
    sign = 1 if metrics.GREATER_IS_BETTER[metric] else -1
    outputs = [np.asarray(member.out_of_fold) for member in pool]
    counts, total = [0] * len(pool), np.zeros_like(outputs[0])
    kept: tuple[list[int], np.ndarray, list[float]] = (counts, total, [])  # the best vote so far: counts, sum, scores
    for _ in range(STEPS):  # each step adds the member that scores best with the ones so far; the best step wins
        tried = [_scores((total + each) / (sum(counts) + 1), truth, tests, metric_of) for each in outputs]
        pick = max(range(len(pool)), key=lambda i: (sign * float(np.mean(tried[i])), -i))
        counts[pick] += 1
        total += outputs[pick]
        if not kept[2] or sign * float(np.mean(tried[pick])) > sign * float(np.mean(kept[2])):
            kept = (list(counts), total.copy(), tried[pick])
    counts, total, fold_scores = kept
    picked = [i for i, count in enumerate(counts) if count]
    if len(picked) < 2:
        log.info("no ensemble: no soft vote of the %d kept trials scores above the best one alone", len(pool))
        return None
    score = float(np.mean(fold_scores))
    gains = sign * (np.asarray(fold_scores) - np.asarray(best.fold_scores))
    needed = max(MARGIN * max(1.0, abs(best.score)), float(np.std(gains, ddof=1)) / math.sqrt(len(gains)))
    found = Ensemble(
        tuple(pool[i] for i in picked),
        tuple(counts[i] for i in picked),
        score,
        tuple(fold_scores),
        best.score,
        total / sum(counts),
    )
    if sign * (score - best.score) <= needed:
        log.info(
            "no ensemble: %s scores cv %s %.4f, the best single trial %.4f: a gain under the %.4f it must reach",
            found.name,
            metric,
            score,
            best.score,
            needed,
        )
        return None
    log.info("ensemble chosen: %s (cv %s %.4f; the best single trial %.4f)", found.name, metric, score, best.score)
    return found
