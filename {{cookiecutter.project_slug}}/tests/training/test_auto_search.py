"""strategy auto: seeded, bounded by max_seconds (a running fit is killed), pruning by rungs, warm-started."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.decision import ThresholdTuning
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.training import auto_search, auto_space, ensemble, features, search, threshold
from {{ cookiecutter.package_name }}.training.auto_worker import Cut, Request, Table, Worker


def table(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, Schema]:
    """A binary table with a non-linear boundary (a linear model cannot get it all)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 6)), columns=[f"x{i}" for i in range(6)])
    frame["target"] = np.where(frame["x0"] * frame["x1"] + np.sin(3 * frame["x2"]) > 0, "yes", "no")
    schema = features.infer(frame, "target", "classification")
    return features.conform(frame, schema), frame["target"], schema


def settings(**changes: Any) -> auto_search.Settings:
    return dataclasses.replace(auto_search.Settings(metric="roc_auc", folds=3, seed=7, max_seconds=120), **changes)


def test_the_ladder_grows_rows_threefold_on_one_fold_then_climbs_folds() -> None:
    assert auto_search.ladder(300, 5) == [auto_search.Rung(300, 1), auto_search.Rung(300, 5)]
    *samples, top = auto_search.ladder(1_000_000, 5)
    rows = [rung.rows for rung in samples]
    assert all(rung.folds == 1 for rung in samples) and top == auto_search.Rung(auto_search.SEARCH_ROWS, 5)
    assert rows[-1] == auto_search.SEARCH_ROWS and rows[0] >= auto_search.FIRST_ROWS
    assert all(0 <= later - 3 * earlier < 3 for earlier, later in itertools.pairwise(rows))


def test_families_follow_the_data() -> None:
    assert auto_space.families_for_data("regression", 500, xgboost=False) == [
        "ridge",
        "hist_gradient_boosting",
        "random_forest",
        "extra_trees",
    ]
    large = auto_space.families_for_data("classification", 1_000_000, xgboost=True)
    assert large == ["logistic_regression", "hist_gradient_boosting", "xgboost"]


def test_the_same_seed_gives_the_same_search() -> None:
    X, y, schema = table(400)

    first, _ = auto_search.run(X, y, schema, settings(max_trials=6, families=("logistic_regression", "extra_trees")))
    second, _ = auto_search.run(X, y, schema, settings(max_trials=6, families=("logistic_regression", "extra_trees")))

    assert len(first.results) == 6
    assert [r.trial for r in first.results] == [r.trial for r in second.results]
    assert [r.fold_scores for r in first.results] == [r.fold_scores for r in second.results]
    assert [r.state for r in first.results] == [r.state for r in second.results]


def test_weak_trials_are_pruned_on_the_first_rung() -> None:
    X, y, schema = table(400)

    result, study = auto_search.run(X, y, schema, settings(max_trials=10))

    pruned = [r for r in result.results if r.state == "pruned"]
    assert pruned, "successive halving stopped no trial"
    assert all(r.folds == 1 and len(r.fold_scores) == 1 for r in pruned)
    complete = [r for r in result.results if r.state == "complete"]
    assert complete and all(len(r.fold_scores) == 3 for r in complete)
    assert result.best() in complete
    assert sum(t.state.name == "PRUNED" for t in study.trials) == len(pruned)


def test_a_fit_running_at_the_deadline_is_killed() -> None:
    X, y, schema = table(20_000)
    worker = Worker(Table(X, y, schema, "roc_auc", 3, 7, "cpu"))
    slow = Request("random_forest", {"n_estimators": 5000, "n_jobs": 1}, rows=20_000, fold_start=0, fold_stop=3)

    started = time.perf_counter()
    with pytest.raises(Cut):
        worker.evaluate(slow, deadline=started + 2.0)

    assert time.perf_counter() - started < 2.5
    assert not worker.alive


def test_the_search_ends_within_its_budget() -> None:
    """Slow forests, cut, after a quick first trial (the first rung of the first trial always runs to its end)."""
    X, y, schema = table(30_000)
    quick_first = auto_space.optuna_config("logistic_regression", {"C": 1.0})
    families = ("logistic_regression", "random_forest", "extra_trees")

    result, _ = auto_search.run(X, y, schema, settings(max_seconds=20, families=families, warm_start=quick_first))

    assert result.stopped_early
    # the worker's start and the first trial's first rung are not cut (seconds at a load of 17 on 2 cores)
    assert result.seconds <= max(20, result.first_trial_seconds) * 1.1
    assert result.first_trial_seconds < 20, "the first trial took the whole budget: this test needs a bigger one"
    assert result.results[0].trial.family == "logistic_regression" and math.isfinite(result.results[0].score)


def test_the_warm_start_is_the_first_trial() -> None:
    X, y, schema = table(400)
    champion = auto_space.optuna_config("logistic_regression", {"C": 0.37})

    result, _ = auto_search.run(X, y, schema, settings(max_trials=2, warm_start=champion))

    assert result.results[0].config == champion
    assert result.results[0].trial.family == "logistic_regression" and result.results[0].trial.params == {"C": 0.37}


def test_without_a_champion_the_library_defaults_come_first() -> None:
    X, y, schema = table(400)

    result, _ = auto_search.run(X, y, schema, settings(max_trials=3))

    assert [(r.trial.family, r.trial.params) for r in result.results[:2]] == [
        ("hist_gradient_boosting", auto_space.DEFAULTS["hist_gradient_boosting"]),
        ("logistic_regression", auto_space.DEFAULTS["logistic_regression"]),
    ]


def test_a_trial_whose_next_rung_would_overrun_the_budget_is_pruned_before_it() -> None:
    """A forest that cannot reach its top rung in the budget stops on a lower rung, and other trials get the rest.

    The budget is 20 times the forest's first rung as measured here (the whole ladder costs about 94 times it), so
    the test holds on a fast machine as on a busy one."""
    X, y, schema = table(30_000)
    forest = {"n_estimators": 300, "max_features": 1.0, "min_samples_leaf": 1}
    rungs = auto_search.ladder(len(X), 3)
    worker = Worker(Table(X, y, schema, "roc_auc", 3, 7, "cpu"))
    first_rung = worker.evaluate(Request("extra_trees", forest, rungs[0].rows, 0, 1), math.inf).seconds
    worker.stop()
    budget = 20 * first_rung
    families = ("logistic_regression", "extra_trees")
    warm = auto_space.optuna_config("extra_trees", forest)

    result, _ = auto_search.run(X, y, schema, settings(max_seconds=budget, families=families, warm_start=warm))

    assert result.results[0].trial.params == forest
    assert result.results[0].state == "pruned" and len(result.results[0].fold_scores) == 1, result.results[0]
    assert len(result.results) > 1 and result.seconds <= budget * 1.1  # the rest of the budget went to other trials
    assert auto_search._next_rung_seconds(rungs, len(rungs) - 2, 1, 2.0) == 4.0  # two more folds of the same rows


def test_searches_sharing_an_rdb_storage_continue_one_study(tmp_path) -> None:
    """train.search.storage: a second search (another runner, or a retrain) adds its trials to the same study and
    does not repeat the enqueued first trials. SQLite here; the team's PostgreSQL takes the same URL form."""
    X, y, schema = table(400)
    shared = settings(max_trials=4, storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="model-abc123")

    first, _ = auto_search.run(X, y, schema, shared)
    second, study = auto_search.run(X, y, schema, shared)

    assert len(study.trials) == len(first.results) + len(second.results) == 8
    assert [t.params for t in study.trials[: len(first.results)]] == [r.config for r in first.results]
    defaults = auto_space.first_configs(["hist_gradient_boosting", "logistic_regression"])
    assert [r.config for r in first.results[:2]] == defaults
    assert not any(r.config in defaults for r in second.results)


def test_the_best_trials_out_of_fold_probabilities_tune_the_threshold_without_a_fit() -> None:
    X, y, schema = table(400)
    result, _ = auto_search.run(X, y, schema, settings(max_trials=3, families=("logistic_regression",)))
    best = result.best()
    pipeline = search.pipeline_for(best.trial, schema, seed=7)
    f1 = ThresholdTuning(objective="f1")

    unfittable = search.pipeline_for(search.Trial("logistic_regression", {"C": -1.0}), schema, seed=7)  # C > 0

    reused = threshold.tune(unfittable, X, y, schema, f1, folds=3, seed=7, out_of_fold=best.out_of_fold)

    # the same seeded row order, folds and fits as cross-validating the best trial again
    order = np.random.default_rng(7).permutation(len(X))
    refitted = threshold.tune(pipeline, X.iloc[order], y.iloc[order], schema, f1, folds=3, seed=7)
    assert best.out_of_fold is not None and best.out_of_fold.shape == (400, 2)
    kept = [r for r in result.results if r.out_of_fold is not None]  # a few, for an ensemble: the best among them
    assert any(r is best for r in kept) and len(kept) <= ensemble.MEMBERS
    assert reused.threshold is not None and reused == refitted
