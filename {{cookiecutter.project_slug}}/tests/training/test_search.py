"""Model search: which trials (plan), and which one wins (run_search, best), reproducibly."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.config import Search
from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.training import features, search


def make_search(strategy: str = "grid", max_trials: int = 50, **candidates: dict) -> Search:
    return Search.model_validate(
        {
            "strategy": strategy,
            "max_trials": max_trials,
            "max_seconds": 600,
            "candidates": [{"family": family, "params": params} for family, params in candidates.items()],
        }
    )


@pytest.fixture(scope="module")
def churn() -> tuple[pd.DataFrame, pd.Series, Schema]:
    """A small classification table with a text label: churn is likelier with more support calls."""
    rng = np.random.default_rng(3)
    calls = rng.poisson(2, 160)
    frame = pd.DataFrame(
        {
            "support_calls": calls.astype(float),
            "tenure": rng.normal(30, 10, 160),
            "plan": rng.choice(["basic", "pro"], 160),
            "churned": np.where(calls + rng.normal(0, 1, 160) > 2.5, "yes", "no"),
        }
    )
    schema = features.infer(frame, "churned", "classification")
    return features.conform(frame, schema), frame["churned"], schema


def result_of(metric: str, *scores: float) -> search.SearchResult:
    trials = [search.TrialResult(search.Trial("ridge", {"alpha": i}), s, 0.0, 0.1) for i, s in enumerate(scores)]
    return search.SearchResult(metric, trials, seconds=1.0, stopped_early=False)


def test_grid_tries_every_combination_taking_turns_between_candidates() -> None:
    spec = make_search(ridge={"alpha": [0.1, 1.0, 10.0]}, hist_gradient_boosting={"max_depth": [3, None]})
    trials = search.plan(spec, "regression", seed=0)
    assert [t.name for t in trials] == [
        "ridge(alpha=0.1)",
        "hist_gradient_boosting(max_depth=3)",
        "ridge(alpha=1.0)",
        "hist_gradient_boosting(max_depth=None)",
        "ridge(alpha=10.0)",
    ]


def test_max_trials_cuts_the_plan_but_keeps_every_family_and_says_so(caplog) -> None:
    spec = make_search(max_trials=2, ridge={"alpha": [0.1, 1.0, 10.0]}, dummy={})
    with caplog.at_level(logging.WARNING):
        trials = search.plan(spec, "regression", seed=0)
    assert [t.family for t in trials] == ["ridge", "dummy"]
    assert "the search has 4 trials; train.search.max_trials = 2 keeps the first 2" in caplog.text


def test_random_draws_are_distinct_within_budget_and_fixed_by_the_seed() -> None:
    space = {"learning_rate": [0.01, 0.03, 0.1, 0.3], "max_depth": [2, 3, 4, 6, None], "l2_regularization": [0, 1]}
    spec = make_search("random", max_trials=6, hist_gradient_boosting=space, ridge={"alpha": [0.1, 1.0, 10.0]})
    first = search.plan(spec, "regression", seed=42)
    assert first == search.plan(spec, "regression", seed=42)
    assert first != search.plan(spec, "regression", seed=43)
    assert len(first) == 6 and len({t.name for t in first}) == 6
    assert [t.family for t in first] == ["hist_gradient_boosting", "ridge"] * 3


def test_random_search_over_a_small_space_tries_all_of_it() -> None:
    spec = make_search("random", max_trials=10, ridge={"alpha": [0.1, 1.0, 10.0]})
    assert sorted(t.params["alpha"] for t in search.plan(spec, "regression", seed=1)) == [0.1, 1.0, 10.0]


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ({"lasso": {}}, "unknown regression model family 'lasso'"),
        ({"ridge": {"alpah": [1.0]}}, "ridge has no parameter 'alpah'"),
        ({"ridge": {"random_state": [1]}}, "'random_state' is set by train.seed"),
    ],
)
def test_a_bad_candidate_fails_before_any_fitting(candidates, message) -> None:
    with pytest.raises(UserError, match=message):
        search.plan(make_search(**candidates), "regression", seed=0)


@pytest.mark.parametrize(
    ("metric", "scores", "best"),
    [("r2", (0.2, 0.9, 0.5), 1), ("rmse", (3.0, 1.0, 2.0), 1), ("mae", (1.0, 2.0, 1.0), 0), ("r2", (0.5, 0.7, 0.7), 1)],
)
def test_the_best_trial_is_chosen_by_the_configured_metric(metric, scores, best) -> None:
    """Greater-is-better metrics take the highest, error metrics the lowest; a tie goes to the earlier trial."""
    assert result_of(metric, *scores).best().trial.params == {"alpha": best}


def test_a_failed_trial_is_never_the_best() -> None:
    result = result_of("rmse", math.nan, 2.0)
    result.results[0].error = "ValueError: boom"
    assert result.best().trial.params == {"alpha": 1}
    assert list(result.table()["rank"]) == [None, 1]


def test_a_search_where_every_trial_failed_says_why() -> None:
    result = result_of("r2", math.nan)
    result.results[0].error = "ValueError: boom"
    with pytest.raises(UserError, match=r"every trial of the search failed: ridge\(alpha=0\): ValueError: boom"):
        result.best()


def test_the_search_reports_every_trial_and_picks_the_best_by_cv(churn) -> None:
    X, y, schema = churn
    trials = search.plan(make_search(logistic_regression={"C": [0.01, 1.0]}, dummy={}), "classification", seed=0)
    reported: list[search.TrialResult] = []
    result = search.run_search(
        trials, X, y, schema, metric="roc_auc", folds=3, seed=0, max_seconds=600, on_trial=reported.append
    )
    assert reported == result.results and len(reported) == 3
    assert all(len(r.fold_scores) == 3 and r.ok for r in result.results)
    assert result.best().trial.family == "logistic_regression"
    assert result.best().score == max(r.score for r in result.results)
    table = result.table()
    assert list(table.columns[:3]) == ["rank", "trial", "family"]
    assert table.loc[table["rank"] == 1, "trial"].item() == result.best().trial.name


def test_the_same_seed_gives_the_same_search(churn) -> None:
    X, y, schema = churn
    spec = make_search(
        "random", max_trials=3, random_forest={"n_estimators": [5, 10], "max_depth": [2, 3], "n_jobs": [1]}
    )
    runs = [
        search.run_search(
            search.plan(spec, "classification", seed=5),
            X,
            y,
            schema,
            metric="roc_auc",
            folds=3,
            seed=5,
            max_seconds=600,
        )
        for _ in range(2)
    ]
    assert [(r.trial, r.fold_scores) for r in runs[0].results] == [(r.trial, r.fold_scores) for r in runs[1].results]


def test_a_trial_that_raises_is_recorded_and_the_search_goes_on(churn, caplog) -> None:
    X, y, schema = churn
    trials = search.plan(make_search(logistic_regression={"C": [-1.0, 1.0]}), "classification", seed=0)
    with caplog.at_level(logging.WARNING):
        result = search.run_search(trials, X, y, schema, metric="roc_auc", folds=3, seed=0, max_seconds=600)
    failed, passed = result.results
    assert not failed.ok and failed.error is not None and "C" in failed.error and math.isnan(failed.score)
    assert passed.ok and result.best() is passed
    assert "logistic_regression(C=-1.0) failed" in caplog.text


def test_no_trial_starts_after_the_time_budget(churn) -> None:
    X, y, schema = churn
    trials = search.plan(make_search(logistic_regression={"C": [0.1, 1.0, 10.0]}), "classification", seed=0)
    result = search.run_search(trials, X, y, schema, metric="roc_auc", folds=3, seed=0, max_seconds=1e-9)
    assert len(result.results) == 1 and result.stopped_early


def test_xgboost_competes_on_text_labels(churn) -> None:
    pytest.importorskip("xgboost")
    X, y, schema = churn
    spec = make_search(xgboost={"n_estimators": [30], "max_depth": [2]}, dummy={})
    result = search.run_search(
        search.plan(spec, "classification", seed=0), X, y, schema, metric="roc_auc", folds=3, seed=0, max_seconds=600
    )
    assert all(r.ok for r in result.results)
    assert result.best().trial.family == "xgboost"
