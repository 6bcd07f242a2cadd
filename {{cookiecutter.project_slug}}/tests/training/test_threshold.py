"""The decision threshold: chosen on out-of-fold probabilities for the objective of train.threshold, stored in the
logged model (FixedThresholdClassifier) and in the schema, the same rule both ways; and class_weight, searchable
in the grid of the families that take it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_fscore_support

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.decision import ThresholdTuning
from {{ cookiecutter.package_name }}.core.schema import Schema
from {{ cookiecutter.package_name }}.training import features, models, search, threshold
from {{ cookiecutter.package_name }}.training.search import Trial


def rare_table(rows: int = 3000, share: float = 0.05, seed: int = 7) -> pd.DataFrame:
    """A numeric signal, a noisy number, a text column and a text target: "Yes" in about ``share`` of the rows."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    risk = signal + rng.normal(scale=1.0, size=rows)
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=rows),
            "channel": rng.choice(["web", "shop", "phone"], size=rows),
            "default": np.where(risk > np.quantile(risk, 1 - share), "Yes", "No"),
        }
    )


def tuned(objective: dict) -> tuple[threshold.Tuned, pd.DataFrame, pd.Series, Schema]:
    table = rare_table()
    schema = features.infer(table, "default", "classification")
    X, y = features.conform(table, schema), table["default"]
    pipeline = search.pipeline_for(Trial("logistic_regression", {}), schema, seed=0)
    found = threshold.tune(pipeline, X, y, schema, ThresholdTuning.model_validate(objective), folds=5, seed=0)
    return found, X, y, schema


def brute_force(positive: np.ndarray, scores: np.ndarray) -> list[tuple[float, float, float]]:
    """(cut, precision, recall) at every distinct score, predicting positive from the cut on."""
    rows = []
    for cut in np.unique(scores):
        precision, recall, _, _ = precision_recall_fscore_support(
            positive, scores >= cut, average="binary", zero_division=0
        )
        rows.append((float(cut), float(precision), float(recall)))
    return rows


def test_f1_picks_the_cut_with_the_best_f1_halfway_below_it() -> None:
    rng = np.random.default_rng(1)
    positive = rng.random(400) < 0.08
    scores = np.clip(0.3 * positive + rng.normal(0.2, 0.12, size=400), 0, 1)
    chosen = threshold.choose(positive, scores, ThresholdTuning(objective="f1"))
    best = max(brute_force(positive, scores), key=lambda r: 2 * r[1] * r[2] / max(r[1] + r[2], 1e-12))
    assert chosen is not None and np.array_equal(scores >= chosen, scores >= best[0])
    assert not np.any(scores == chosen), "no training probability sits on the threshold"


def test_constrained_objectives_hold_their_bound_and_do_the_best_within_it() -> None:
    rng = np.random.default_rng(2)
    positive = rng.random(600) < 0.1
    scores = np.clip(0.25 * positive + rng.normal(0.3, 0.15, size=600), 0, 1)
    grid = brute_force(positive, scores)
    at_recall = threshold.choose(positive, scores, ThresholdTuning(objective="precision_at_recall", target=0.8))
    assert at_recall is not None
    precision, recall, _, _ = precision_recall_fscore_support(positive, scores >= at_recall, average="binary")
    assert recall >= 0.8 and precision == pytest.approx(max(p for _, p, r in grid if r >= 0.8))
    at_precision = threshold.choose(positive, scores, ThresholdTuning(objective="recall_at_precision", target=0.5))
    assert at_precision is not None
    precision, recall, _, _ = precision_recall_fscore_support(positive, scores >= at_precision, average="binary")
    assert precision >= 0.5 and recall == pytest.approx(max(r for _, p, r in grid if p >= 0.5))
    # a precision no threshold reaches (the highest probability is a negative row's): none, the most probable class
    top_negative = np.append(positive, False), np.append(scores, 1.0)
    assert threshold.choose(*top_negative, ThresholdTuning(objective="recall_at_precision", target=1.0)) is None


def test_a_rare_class_gets_a_tuned_threshold_that_catches_more_of_it() -> None:
    # when the threshold of a logistic regression is tuned for f1 on a 5%-positive text target
    found, *_ = tuned({"objective": "f1"})
    # then it is well below 0.5, named with its objective, and out of fold it catches more positives than 0.5
    assert found.threshold is not None and found.threshold.value < 0.45 and found.threshold.objective == "f1"
    assert found.scores["recall"] > found.scores["recall_at_0.5"]
    assert found.scores["f1"] >= found.scores["f1_at_0.5"]


def test_the_logged_model_and_the_schema_apply_the_same_threshold() -> None:
    # given the tuned threshold, the pipeline wrapped with it (what train logs), and the schema with it
    found, X, y, schema = tuned({"objective": {"precision_at_recall": 0.7}})
    pipeline = search.pipeline_for(Trial("logistic_regression", {}), schema, seed=0)
    model = threshold.wrap(pipeline, schema, found.threshold).fit(X, y)
    rule = schema.with_threshold(found.threshold)
    # when the logged model predicts, and the schema decides on its probabilities
    own, decided = model.predict(X), rule.labels(model.predict_proba(X))
    # then the labels are the same, and differ from the most probable class on the rows between the two
    assert list(own) == list(decided)
    assert np.sum(own != schema.labels(model.predict_proba(X))) > 0
    assert models.unwrap(model) is model.estimator_ and models.unwrap(model.estimator_) is model.estimator_


def test_no_threshold_for_none_or_more_than_two_classes() -> None:
    found, _, _, _ = tuned({"objective": "none"})
    assert found.threshold is None and found.scores == {}
    table = rare_table()
    table["default"] = np.where(table["signal"] > 0.5, "high", np.where(table["signal"] < -0.5, "low", "mid"))
    three = features.infer(table, "default", "classification")
    pipeline = search.pipeline_for(Trial("logistic_regression", {}), three, seed=0)
    X3 = features.conform(table, three)
    out = threshold.tune(pipeline, X3, table["default"], three, ThresholdTuning(objective="f1"), folds=3, seed=0)
    assert out.threshold is None and threshold.wrap(pipeline, three, None) is pipeline


@pytest.mark.parametrize("family", ["logistic_regression", "random_forest", "hist_gradient_boosting"])
def test_class_weight_balanced_is_a_searchable_grid_value(family: str) -> None:
    # given a candidate whose grid searches class_weight, on a rare text target scored by average precision
    table = rare_table(rows=1200)
    schema = features.infer(table, "default", "classification")
    extra = {"n_estimators": [20]} if family == "random_forest" else {}
    candidate = {"family": family, "params": {"class_weight": [None, "balanced"]} | extra}
    plan = search.plan(config.Search.model_validate({
        "strategy": "grid", "max_trials": 4, "max_seconds": 60, "candidates": [candidate]
    }), "classification", seed=0)  # fmt: skip
    # when the search runs
    result = search.run_search(
        plan, features.conform(table, schema), table["default"], schema,
        metric="average_precision", folds=3, seed=0, max_seconds=60,
    )  # fmt: skip
    # then both values are tried and scored, and the two differ (the weights change the fit)
    assert [r.trial.params["class_weight"] for r in result.results] == [None, "balanced"]
    assert all(r.ok for r in result.results), [r.error for r in result.results]
    assert result.results[0].score != result.results[1].score


def test_class_weight_is_refused_by_name_where_the_family_has_none() -> None:
    with pytest.raises(models.UserError, match="dummy has no parameter 'class_weight'"):
        models.check_params("dummy", "regression", ["class_weight"])
