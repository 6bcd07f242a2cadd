"""The auto search's ensemble: chosen where a soft vote of its best trials wins on CV by the margin, not otherwise."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.decision import ThresholdTuning
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.training import auto_search, auto_space, ensemble, features, models, search, threshold
from {{ cookiecutter.package_name }}.training.auto_worker import Request, Table, fold_scores
from {{ cookiecutter.package_name }}.training.search import Trial, TrialResult

from ..helpers import complementary_table, customers_split

FOLDS, SEED = 3, 7


def complementary() -> tuple[pd.DataFrame, pd.Series, Schema]:
    """helpers.complementary_table conformed: each family gets right what the other gets wrong."""
    frame = complementary_table()
    schema = features.infer(frame, "target", "regression")
    return features.conform(frame, schema), frame["target"], schema


def trial(X: pd.DataFrame, y: pd.Series, schema: Schema, metric: str, family: str, **params: Any) -> TrialResult:
    """A complete trial as the search's worker scores it (the same function, in this process): its fold scores and
    out-of-fold outputs on the search's seeded rows and folds."""
    table = Table(X, y, schema, metric, FOLDS, SEED, "cpu")
    order = np.random.default_rng(SEED).permutation(len(X))
    scores, out_of_fold = fold_scores(table, order, Request(family, params, len(X), 0, FOLDS, out_of_fold=True))
    return TrialResult(
        Trial(family, params),
        float(np.mean(scores)),
        float(np.std(scores)),
        0.0,
        scores,
        rows=len(X),
        folds=FOLDS,
        out_of_fold=out_of_fold,
    )


def test_a_soft_vote_of_complementary_trials_is_chosen_and_refits_as_a_voting_model(caplog) -> None:
    # given a ridge and a boosting trial that each miss what the other gets
    X, y, schema = complementary()
    ridge = trial(X, y, schema, "r2", "ridge", alpha=1.0)
    boosting = trial(X, y, schema, "r2", "hist_gradient_boosting", max_iter=100)
    # when the ensemble is selected
    with caplog.at_level(logging.INFO, logger=ensemble.__name__):
        chosen = ensemble.select([ridge, boosting], y, schema, "r2", folds=FOLDS, seed=SEED)
    # then it is chosen: both members, a CV score above the best single one's by more than the margin
    assert chosen is not None
    assert {m.trial.family for m in chosen.members} == {"ridge", "hist_gradient_boosting"}
    assert chosen.best_score == max(ridge.score, boosting.score)
    assert chosen.score - chosen.best_score > ensemble.MARGIN
    assert chosen.score == pytest.approx(np.mean(chosen.fold_scores))
    assert [r.getMessage() for r in caplog.records][-1].startswith("ensemble chosen: ensemble(")
    # and its out-of-fold outputs are the weighted average of the members'
    shares = np.asarray(chosen.weights) / sum(chosen.weights)
    expected = sum(s * np.asarray(m.out_of_fold) for s, m in zip(shares, chosen.members, strict=True))
    assert np.allclose(chosen.out_of_fold, expected)
    # and its model is scikit-learn's VotingRegressor of the members' pipelines, with the selection's weights
    model = chosen.model(schema, seed=SEED).fit(X, y)
    assert type(model).__name__ == "VotingRegressor" and list(model.weights) == list(chosen.weights)
    assert [name.rsplit("_", 1)[0] for name, _ in model.estimators] == [m.trial.family for m in chosen.members]
    assert chosen.params == {"members": [m.trial.name for m in chosen.members], "weights": list(chosen.weights)}


@pytest.mark.parametrize(
    ("task", "metric"),
    [("classification", m) for m in ("roc_auc", "average_precision", "f1", "accuracy", "log_loss")]
    + [("regression", m) for m in ("r2", "rmse", "mae")],
)
def test_the_selection_scores_out_of_fold_outputs_as_the_search_scored_its_trials(task: str, metric: str) -> None:
    # given a trial as the search scored it (binary: text labels, the positive class the minority)
    X, y, _, schema = customers_split(task)
    member = trial(X, y, schema, metric, "logistic_regression" if task == "classification" else "ridge")
    # when the selection scores its out-of-fold outputs on the search's rows and folds
    truth, tests = ensemble._folds(y, schema, folds=FOLDS, seed=SEED)
    found = ensemble._scores(np.asarray(member.out_of_fold), truth, tests, ensemble._scorer(metric, schema))
    # then each fold's score is the search's
    assert found == pytest.approx(member.fold_scores, rel=1e-12)


def test_a_binary_ensemble_tunes_the_threshold_on_its_own_out_of_fold_probabilities() -> None:
    # given a binary table (text labels) where a soft vote of boosting and a logistic regression wins on log loss
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(600, 4)), columns=[f"x{i}" for i in range(4)])
    latent = 1.5 * frame["x0"] + frame["x1"] + 0.8 * frame["x2"] * frame["x3"] + 0.5 * rng.normal(size=600)
    frame["target"] = np.where(latent > 0.8, "yes", "no")
    schema = features.infer(frame, "target", "classification")
    X, y = features.conform(frame, schema), frame["target"]
    members = [trial(X, y, schema, "log_loss", family) for family in ("logistic_regression", "hist_gradient_boosting")]
    chosen = ensemble.select(members, y, schema, "log_loss", folds=FOLDS, seed=SEED)
    assert chosen is not None and chosen.score < chosen.best_score - ensemble.MARGIN  # log loss: lower is better
    # when the threshold is tuned on its out-of-fold probabilities (with an estimator that cannot be fitted)
    f1 = ThresholdTuning(objective="f1")
    unfittable = search.pipeline_for(Trial("logistic_regression", {"C": -1.0}), schema, seed=SEED)
    tuned = threshold.tune(unfittable, X, y, schema, f1, folds=FOLDS, seed=SEED, out_of_fold=chosen.out_of_fold)
    # then it is the threshold those probabilities give on the search's rows
    positive = np.asarray(y.iloc[np.random.default_rng(SEED).permutation(len(y))]) == schema.positive_class
    column = list(schema.classes).index(schema.positive_class)
    assert tuned.threshold is not None
    assert tuned.threshold.value == threshold.choose(positive, chosen.out_of_fold[:, column], f1)
    # and the model train refits is a soft vote behind that threshold, answering in the table's labels
    model = threshold.wrap(chosen.model(schema, seed=SEED), schema, tuned.threshold).fit(X, y)
    assert models.unwrap(model).voting == "soft" and list(model.classes_) == list(schema.classes)


def test_no_ensemble_where_adding_a_member_does_not_help(caplog) -> None:
    # given the best trial and one that ignores the features
    X, y, schema = complementary()
    boosting = trial(X, y, schema, "r2", "hist_gradient_boosting", max_iter=100)
    constant = trial(X, y, schema, "r2", "dummy")
    # when the ensemble is selected
    with caplog.at_level(logging.INFO, logger=ensemble.__name__):
        chosen = ensemble.select([constant, boosting], y, schema, "r2", folds=FOLDS, seed=SEED)
    # then there is none, and one log line says why
    assert chosen is None
    lines = [r.getMessage() for r in caplog.records if r.name == ensemble.__name__]
    assert len(lines) == 1 and lines[0].startswith("no ensemble: no soft vote of the")


def test_no_ensemble_where_its_gain_is_under_the_margin(caplog) -> None:
    # given two boosting trials that differ in their leaf count (a vote of them is hardly better than the best)
    X, y, schema = complementary()
    twins = [trial(X, y, schema, "r2", "hist_gradient_boosting", max_leaf_nodes=leaves) for leaves in (31, 8)]
    # when the ensemble is selected
    with caplog.at_level(logging.INFO, logger=ensemble.__name__):
        chosen = ensemble.select(twins, y, schema, "r2", folds=FOLDS, seed=SEED)
    # then there is none: the line gives both scores and the gain it had to reach
    assert chosen is None
    lines = [r.getMessage() for r in caplog.records if r.name == ensemble.__name__]
    assert len(lines) == 1 and lines[0].startswith("no ensemble: ensemble(")
    assert f"the best single trial {max(t.score for t in twins):.4f}: a gain under the 0.0020" in lines[0]


def test_no_ensemble_where_the_search_scored_a_sample_of_the_rows(caplog) -> None:
    # given trials scored on the first 300 rows of a table of 600 (as a table over SEARCH_ROWS is searched)
    X, y, schema = complementary()
    order = np.random.default_rng(SEED).permutation(len(X))
    sample = order[:300]
    members = [trial(X.iloc[sample], y.iloc[sample], schema, "r2", family) for family in ("ridge", "extra_trees")]
    # when the ensemble is selected for all 600 rows
    with caplog.at_level(logging.INFO, logger=ensemble.__name__):
        chosen = ensemble.select(members, y, schema, "r2", folds=FOLDS, seed=SEED)
    # then there is none: its CV would not cover the rows its members are refitted on
    assert chosen is None
    assert "scored 300 of the 600 training rows" in caplog.records[-1].getMessage()


def fake(family: str, score: float, index: int) -> TrialResult:
    return TrialResult(Trial(family, {"i": index}), score, 0.0, 0.0, [score], out_of_fold=np.full((4, 1), score))


def test_the_search_keeps_the_outputs_of_the_best_of_each_family_then_the_next_best() -> None:
    # given eight complete trials of three families, and one without outputs
    results = [fake("ridge", 0.9 - i / 100, i) for i in range(6)] + [fake("extra_trees", 0.5, 6), fake("dummy", 0.1, 7)]
    results.append(dataclasses.replace(fake("ridge", 0.95, 8), state="pruned", out_of_fold=None))
    # when the search keeps what an ensemble may combine
    ensemble.keep_out_of_fold(results, "r2")
    # then the best of each family, then the next best, MEMBERS in all: the best trial among them
    kept = [r.trial.params["i"] for r in results if r.out_of_fold is not None]
    assert sorted(kept) == [0, 1, 2, 6, 7] and len(kept) == ensemble.MEMBERS
    # and an error metric keeps the lowest
    errors = [fake("ridge", float(i), i) for i in range(7)]
    ensemble.keep_out_of_fold(errors, "rmse")
    assert [r.trial.params["i"] for r in errors if r.out_of_fold is not None] == [0, 1, 2, 3, 4]


def test_an_auto_search_keeps_its_trials_outputs_and_the_same_seed_chooses_the_same_ensemble() -> None:
    # given the complementary table searched twice with the same seed (the library defaults first: boosting, ridge)
    X, y, schema = complementary()
    settings = auto_search.Settings(metric="r2", folds=FOLDS, seed=SEED, max_seconds=120, max_trials=2)
    runs = [auto_search.run(X, y, schema, settings)[0] for _ in range(2)]
    # when each search's ensemble is selected
    chosen = [ensemble.select(r.results, y, schema, "r2", folds=FOLDS, seed=SEED) for r in runs]
    # then both searches kept every complete trial's outputs (rows x 1 predictions) and chose the same ensemble
    assert [(r.trial.family, r.trial.params) for r in runs[0].results] == [
        ("hist_gradient_boosting", auto_space.DEFAULTS["hist_gradient_boosting"]),
        ("ridge", auto_space.DEFAULTS["ridge"]),
    ]
    assert all(r.out_of_fold is not None and r.out_of_fold.shape == (len(X), 1) for r in runs[0].results)
    assert chosen[0] is not None and chosen[1] is not None
    assert (chosen[0].name, chosen[0].score) == (chosen[1].name, chosen[1].score)
    assert np.array_equal(chosen[0].out_of_fold, chosen[1].out_of_fold)
