"""How probabilities become labels: the positive class of a binary target, the threshold rule, and what
train.threshold may ask for."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.core import decision
from {{ cookiecutter.package_name }}.core.decision import Threshold, ThresholdTuning
from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.core.schema import Feature, Schema


def test_the_positive_class_defaults_to_the_minority_class() -> None:
    assert decision.positive_class({"No": 9667, "Yes": 333}, None, "default") == "Yes"
    assert decision.positive_class({0: 212, 1: 357}, None, "target") == 0  # breast_cancer: malignant is 0
    assert decision.positive_class({"a": 5, "b": 5}, None, "t") == "b"  # a tie: the second label, as scikit-learn
    assert decision.positive_class({"a": 5, "b": 3, "c": 2}, None, "t") is None  # multi-class: none


def test_a_configured_positive_class_is_matched_as_yaml_read_it_or_as_text() -> None:
    assert decision.positive_class({"No": 9, "Yes": 1}, "No", "default") == "No"
    assert decision.positive_class({0: 9, 1: 1}, "0", "y") == 0  # a number written as text
    assert decision.positive_class({False: 9, True: 1}, True, "y") is True


@pytest.mark.parametrize(
    ("counts", "configured", "message"),
    [
        ({"No": 9, "Yes": 1}, True, "True is not a class of 'default'; its classes are 'No', 'Yes' (YAML reads an"),
        ({0: 9, 1: 1}, True, "True is not a class of 'default'; its classes are 0, 1 (YAML reads"),
        ({"No": 9, "Yes": 1}, "Maybe", "'Maybe' is not a class of 'default'; its classes are 'No', 'Yes'"),
        ({"a": 1, "b": 1, "c": 1}, "a", "applies to a binary target, and 'default' has 3 classes"),
    ],
)
def test_a_positive_class_that_does_not_fit_is_one_error_naming_the_classes(counts, configured, message) -> None:
    with pytest.raises(UserError) as error:
        decision.positive_class(counts, configured, "default")
    assert str(error.value).startswith("prepare.positive_class: ") and message in str(error.value)


def test_a_row_is_positive_from_the_threshold_on() -> None:
    probabilities = np.array([[0.71, 0.29], [0.70, 0.30], [0.40, 0.60], [0.95, 0.05]])
    classes = ("No", "Yes")
    assert decision.labels(probabilities, classes, "Yes", 0.3).tolist() == ["No", "Yes", "Yes", "No"]
    assert decision.labels(probabilities, classes, "Yes", None).tolist() == ["No", "No", "Yes", "No"]  # argmax
    # the positive class may be the first column: its own probability is compared
    assert decision.labels(probabilities, classes, "No", 0.9).tolist() == ["Yes", "Yes", "Yes", "No"]
    three = np.array([[0.2, 0.3, 0.5]])
    assert decision.labels(three, ("a", "b", "c"), None, 0.1).tolist() == ["c"]  # multi-class: no threshold


def test_the_schema_carries_the_rule_through_its_json_form() -> None:
    schema = Schema("y", "classification", (Feature("x", "numeric", "float64"),), ("No", "Yes"), "Yes", 0.033)
    tuned = schema.with_threshold(Threshold(0.2875, "f1"))
    again = Schema.from_dict(tuned.to_dict())
    assert again == tuned and again.threshold == Threshold(0.2875, "f1")
    assert again.labels(np.array([[0.7, 0.3], [0.72, 0.28]])).tolist() == ["Yes", "No"]
    old = {k: v for k, v in schema.to_dict().items() if k not in ("positive_class", "positive_share", "threshold")}
    assert Schema.from_dict(old).threshold is None  # a schema written before: the most probable class


@pytest.mark.parametrize(
    ("written", "objective", "target", "describe"),
    [
        ({"objective": "f1"}, "f1", None, "f1"),
        ({"objective": "none"}, "none", None, "none"),
        ({"objective": {"precision_at_recall": 0.8}}, "precision_at_recall", 0.8, "precision_at_recall 0.8"),
        ({"objective": {"recall_at_precision": 0.5}}, "recall_at_precision", 0.5, "recall_at_precision 0.5"),
    ],
)
def test_threshold_objectives_are_read_in_both_forms(written, objective, target, describe) -> None:
    tuning = ThresholdTuning.model_validate(written)
    assert (tuning.objective, tuning.target, tuning.describe) == (objective, target, describe)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ({"objective": "f2"}, "'f2' is not one of none, f1, {precision_at_recall: <recall>}"),
        ({"objective": "precision_at_recall"}, "precision_at_recall needs the recall to keep between 0 and 1"),
        ({"objective": {"recall_at_precision": 1.5}}, "needs the precision to keep between 0 and 1"),
        ({"objective": {"f1": 0.5}}, "'f1' takes no value"),
        ({"objective": {"f1": None, "none": None}}, "must name one objective"),
    ],
)
def test_a_threshold_objective_that_does_not_fit_says_what_does(written, message) -> None:
    with pytest.raises(ValidationError) as error:
        ThresholdTuning.model_validate(written)
    assert message in str(error.value)
