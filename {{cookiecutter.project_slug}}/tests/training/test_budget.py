"""The design matrix's size before any fit: each encoder's width is what the fitted preprocessing really makes, and a
table over the budget stops with the columns to blame and the role to give them (training/budget.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.core.schema import Kind
from {{ cookiecutter.package_name }}.training import budget, features

ROWS = 6_000
RNG = np.random.default_rng(11)
KINDS: dict[str, Kind] = {
    "amount": "numeric",
    "channel": "categorical",
    "merchant": "high_cardinality",
    "created": "datetime",
}


def table(task: str = "classification") -> pd.DataFrame:
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(RNG.integers(0, 10**7, ROWS), unit="s")
    frame = pd.DataFrame(
        {
            "amount": RNG.normal(size=ROWS),
            "channel": RNG.choice([f"c{i}" for i in range(20)], ROWS),
            "merchant": RNG.choice([f"M{i:05d}" for i in range(5000)], ROWS),
            "created": created.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    frame["target"] = RNG.choice(["a", "b", "c"], ROWS) if task == "multiclass" else RNG.choice(["no", "yes"], ROWS)
    return frame


@pytest.mark.parametrize("task", ["classification", "multiclass"])
def test_each_encoder_makes_as_many_columns_as_estimated(task: str) -> None:
    frame = table(task)
    schema = features.infer(frame, "target", "classification", KINDS)
    estimate = budget.estimate(schema, frame)
    classes = 3 if task == "multiclass" else 1
    assert estimate.widths == {"amount": 1, "channel": 20, "merchant": classes, "created": 5}
    transformed = features.preprocessor(schema).fit_transform(features.conform(frame, schema), frame["target"])
    assert transformed.shape == (ROWS, estimate.columns), "the estimate is the fitted matrix's width"


def test_a_high_cardinality_column_stays_narrow_where_one_hot_would_not() -> None:
    frame = table()
    as_category = features.infer(frame, "target", "classification", KINDS | {"merchant": "categorical"})
    narrow = budget.estimate(features.infer(frame, "target", "classification", KINDS), frame)
    wide = budget.estimate(as_category, frame)
    assert wide.widths["merchant"] > 3_000 and narrow.widths["merchant"] == 1
    assert wide.bytes > 100 * narrow.bytes


def test_over_the_budget_is_one_error_naming_the_columns_and_their_role() -> None:
    frame = table()
    schema = features.infer(frame, "target", "classification", KINDS | {"merchant": "categorical"})
    with pytest.raises(UserError) as error:
        budget.check(schema, frame, memory_budget_gb=0.05)
    message = str(error.value)
    assert "over the budget of 0.05 GiB (prepare.memory_budget_gb)" in message
    assert message.index("'merchant' (categorical:") < message.index("'channel' (categorical: 20 one-hot columns)")
    assert "-> role high_cardinality" in message and "prepare.roles" in message
    fine = features.infer(frame, "target", "classification", KINDS)
    assert budget.check(fine, frame, memory_budget_gb=0.05).bytes < 0.05 * budget.GIB


def test_a_column_with_a_value_per_row_is_told_to_be_an_identifier() -> None:
    frame = table()
    frame["event"] = [f"e{i}" for i in range(ROWS)]
    schema = features.infer(frame, "target", "classification", KINDS | {"event": "categorical"})
    with pytest.raises(UserError, match=r"'event' \(categorical: 6,000 one-hot columns\) -> role identifier"):
        budget.check(schema, frame, memory_budget_gb=0.05)


def test_the_default_budget_is_a_quarter_of_the_memory() -> None:
    assert budget.budget_bytes(None) == int(0.25 * budget.memory_limit())
    assert 0 < budget.memory_limit() <= budget.os.sysconf("SC_PAGE_SIZE") * budget.os.sysconf("SC_PHYS_PAGES")
    assert budget.budget_bytes(2.0) == 2 * budget.GIB
