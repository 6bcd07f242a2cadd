"""Column roles: each role inferred from the values (a name is a hint, never the rule), overridden by params.yaml,
shown with its reason; a column that alone predicts the target is named as a likely leak (data/roles.py)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.data import roles

ROWS = 2_000
RNG = np.random.default_rng(5)


def role_of(values: Any, name: str = "column") -> str:
    return roles.infer_role(name, pd.Series(values))[0]


def test_an_integer_row_index_is_an_identifier_whatever_its_name() -> None:
    assert role_of(np.arange(1, ROWS + 1), "n") == "identifier"  # a dense range
    assert role_of(np.sort(RNG.choice(10**9, ROWS, replace=False)), "n") == "identifier"  # increasing row by row


def test_a_name_is_a_hint_not_the_rule() -> None:
    # Given unique integers in no order over a wide range: a measure (an amount in cents), not a row counter
    cents = pd.Series(RNG.choice(10**7, ROWS, replace=False))
    assert role_of(cents, "amount_cents") == "numeric"
    # and the same values under an id's name: the hint is enough
    assert role_of(cents, "account_id") == "identifier"
    # a hinted name with many repeats (a customer seen on 3 rows each on average) is no identifier
    assert role_of(RNG.integers(0, ROWS // 3, ROWS), "customer_id") == "numeric"


def test_uuids_and_codes_are_identifiers() -> None:
    assert role_of([str(uuid.UUID(int=int(v))) for v in RNG.integers(0, 2**62, ROWS)], "event") == "identifier"
    assert role_of([f"INV-{i:06d}" for i in range(ROWS)], "invoice") == "identifier"


def test_a_continuous_measure_is_unique_too_and_numeric() -> None:
    role, reason = roles.infer_role("score", pd.Series(RNG.normal(size=ROWS)))
    assert role == "numeric" and "not integers: a measure, not an identifier" in reason


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(pd.date_range("2024-01-01", periods=ROWS, freq="37min").strftime("%Y-%m-%dT%H:%M:%S")),
        pd.Series(pd.date_range("2024-01-01", periods=ROWS, freq="D").strftime("%m/%d/%Y")),
        pd.Series(pd.date_range("2024-01-01", periods=ROWS, freq="h").strftime("%d %B %Y %H:%M")),
        pd.Series(pd.date_range("2024-01-01", periods=ROWS, freq="h")),  # stored as dates (Parquet)
    ],
    ids=["iso", "us-dates", "day-month-name", "datetime64"],
)
def test_dates_and_times_in_common_formats_are_datetime(values: pd.Series) -> None:
    values[::50] = None  # some missing
    assert role_of(values, "when") == "datetime"


def test_text_is_categorical_high_cardinality_or_free_text_by_its_values() -> None:
    assert role_of(RNG.choice([f"plan_{i}" for i in range(20)], ROWS)) == "categorical"
    assert role_of(RNG.choice([f"M{i:05d}" for i in range(5000)], 20_000)) == "high_cardinality"
    words = np.array(["late", "parcel", "refund", "please", "broken", "thanks", "order", "never", "arrived", "again"])
    notes = [" ".join(RNG.choice(words, 8)) for _ in range(ROWS)]
    assert role_of(notes, "note") == "text"
    assert role_of([True, False] * (ROWS // 2)) == "categorical"


def test_a_column_with_one_value_or_none_is_constant() -> None:
    assert roles.infer_role("c", pd.Series(["x"] * ROWS + [None]))[0] == "constant"
    assert roles.infer_role("c", pd.Series([np.nan] * ROWS))[0] == "constant"


def table_with_a_leak() -> pd.DataFrame:
    target = np.where(RNG.random(ROWS) < 0.1, "yes", "no")
    status = np.where(target == "yes", "chargeback", "settled")
    status[:4] = "settled"  # almost perfect
    return pd.DataFrame(
        {
            "status": status,
            "amount": RNG.normal(size=ROWS) + (target == "yes"),  # predictive, as a feature should be
            "target": target,
        }
    )


def test_a_column_that_alone_predicts_the_target_is_named_as_a_likely_leak() -> None:
    found = {r.column: r for r in roles.infer(table_with_a_leak(), "target", True)}
    assert found["status"].leak.startswith("LIKELY TARGET LEAK: alone it scores roc_auc 0.99")
    assert found["status"].role == "categorical", "a leak stays a feature until the user says otherwise"
    assert found["amount"].leak == "", "a useful feature is not a leak"


def test_a_regression_leak_is_measured_by_r2() -> None:
    frame = pd.DataFrame({"spend": RNG.normal(100, 20, ROWS)})
    frame["spend_copy"] = frame["spend"] * 1.01
    frame["noise"] = RNG.normal(size=ROWS)
    found = {r.column: r for r in roles.infer(frame, "spend", False)}
    assert "r2 0.99" in found["spend_copy"].leak and found["noise"].leak == ""


def test_params_override_a_role_and_the_reason_says_what_was_inferred() -> None:
    frame = table_with_a_leak()
    found = {r.column: r for r in roles.infer(frame, "target", True, {"status": "ignore"})}
    assert found["status"].role == "ignore" and not found["status"].is_feature
    assert found["status"].reason.startswith("set in params.yaml (inferred: categorical")
    assert found["status"].leak == "", "only features are checked for leaks"


def test_a_bad_override_is_one_error_naming_the_column() -> None:
    frame = table_with_a_leak()
    with pytest.raises(UserError, match=r"prepare\.roles names column\(s\) not in the data: nope"):
        roles.infer(frame, "target", True, {"nope": "numeric"})
    with pytest.raises(UserError, match=r"'status' is numeric in params\.yaml but holds text, e\.g\. 'settled' in row"):
        roles.infer(frame, "target", True, {"status": "numeric"})
    with pytest.raises(UserError, match="gives the target 'target' a role"):
        roles.infer(frame, "target", True, {"target": "categorical"})


def test_the_table_shows_every_column_its_role_and_the_leak(caplog: pytest.LogCaptureFixture) -> None:
    found = roles.infer(table_with_a_leak(), "target", True)
    lines = roles.table(found, "target")
    assert lines[0].split() == ["column", "role", "reason"]
    assert lines[1].split()[:2] == ["target", "target"]
    assert any(line.startswith("status  categorical") and "LIKELY TARGET LEAK" in line for line in lines)
    with caplog.at_level("WARNING"):
        roles.show(found, "target")
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelname == "WARNING"] == ["column 'status'"]


def test_no_leak_is_judged_without_enough_labelled_rows() -> None:
    frame = table_with_a_leak()
    frame["target"] = None  # validate names this; the roles still print
    assert [r.leak for r in roles.infer(frame, "target", True)] == ["", ""]
    one_class = table_with_a_leak().assign(target="no")
    assert [r.leak for r in roles.infer(one_class, "target", True)] == ["", ""]
