"""Column roles: what each column of a table is to the model, inferred from its values and shown with the reason.

=================  ===========================================================  ====================================
role               inferred when                                                what the model gets
=================  ===========================================================  ====================================
identifier         near-unique per row: integers that count rows (a dense or     nothing (kept in the data: the
                   ordered range), uuids, codes; a name like id/index/rownames   batch key, the serving layer)
                   is a hint that lowers the bar, never the rule
datetime           stored as a date/time, or text that parses as one             calendar features (year, month, day
                                                                                 of week, hour when present, days
                                                                                 since the earliest training date)
numeric            numbers (a continuous measure is unique per row too, and      the number (imputed, scaled)
                   is not an identifier: it is not integral)
categorical        text with at most MAX_CATEGORIES distinct values, booleans    one-hot columns
high_cardinality   text with more distinct values                                one number per class: the target's
                                                                                 mean per value (TargetEncoder,
                                                                                 cross-fitted)
text               free text: long values of several words, mostly distinct     nothing (not encoded)
constant           one value, or none                                           nothing
ignore             never inferred: the user leaves a column out                 nothing
=================  ===========================================================  ====================================

params.yaml ``prepare.roles`` is the one place a role is overridden (``make data`` writes the inferred roles there,
each with its reason as a comment); a column it does not name is inferred on every prepare run.

**Likely target leak** is a warning, not a role: a feature column that alone predicts the target almost perfectly
(its one-feature model scores at least LEAK_SCORE, roc_auc or r2, out of fold) is named in the table and in a
warning on every run, and stays a feature until the user gives it the role ``ignore``: only the user knows whether
its value is known when a prediction is made (a chargeback status is not; a lab value that defines a diagnosis may
be), and a heuristic that silently removed the strongest feature would cost more than one that names it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args, overload

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..core.config import Role
from ..core.errors import UserError
from .tables import parse_dates

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = get_args(Role)
FEATURE_ROLES = ("numeric", "categorical", "high_cardinality", "datetime")  # the others are left out of the features
MAX_CATEGORIES = 50  # text columns with more distinct values are high_cardinality (target-encoded, not one-hot)
NEAR_UNIQUE = 0.95  # distinct values per filled row from which integers or codes are an identifier
HINTED_UNIQUE = 0.5  # ... when the column's name says it is one (id, key, index, uuid, rownames)
DENSE_RANGE = 1.5  # integers spanning at most this many times their count of distinct values count rows
DATE_SHARE = 0.95  # share of filled text values that must parse as dates and times
FREE_TEXT_WORDS = 3.0  # mean words per value from which distinct text is free text, not codes
LEAK_SCORE = 0.99  # a feature that alone reaches this roc_auc (classification) or r2 (regression) likely leaks
SAMPLE_ROWS = 20_000  # rows the date check and the leak check look at (a seeded sample beyond)
LEAK_FOLDS = 3
LEAK_BINS = 32  # a numeric column's quantile bins in its one-feature model
LEAK_MIN_ROWS = 30  # labelled rows below which no leak is judged
NAME_HINT = re.compile(
    r"(^|[^a-z])(id|ids|uuid|guid|key|index|idx|rownames?|row_?(number|num|no)|unnamed: ?\d+)($|[^a-z])"
)
DATE_LIKE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2} [A-Za-z]{3,9} \d{4}|[A-Za-z]{3,9} \d{1,2},? \d{4})"
)


@dataclass(frozen=True)
class ColumnRole:
    column: str
    role: str
    reason: str
    set_in_params: bool = False  # the role comes from params.yaml prepare.roles
    leak: str = ""  # why it likely leaks the target ("" when it does not)

    @property
    def is_feature(self) -> bool:
        return self.role in FEATURE_ROLES


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


@overload
def _sample(values: pd.Series, rows: int = SAMPLE_ROWS) -> pd.Series: ...
@overload
def _sample(values: pd.DataFrame, rows: int = SAMPLE_ROWS) -> pd.DataFrame: ...
def _sample(values: pd.Series | pd.DataFrame, rows: int = SAMPLE_ROWS) -> pd.Series | pd.DataFrame:
    """A seeded sample of ``rows`` rows (all of them when there are fewer)."""
    return values.sample(rows, random_state=0) if len(values) > rows else values


def _looks_like_dates(text: pd.Series) -> float:
    """The share of (a sample of) filled text values that read as dates or times."""
    sample = _sample(text, 2000)
    shaped = sample[sample.str.match(DATE_LIKE)]
    if len(shaped) < DATE_SHARE * len(sample):
        return len(shaped) / max(len(sample), 1)
    return float(parse_dates(shaped).notna().sum()) / max(len(sample), 1)


def _hinted(name: str) -> bool:
    return bool(NAME_HINT.search(name.lower()))


def infer_role(name: str, values: pd.Series) -> tuple[str, str]:
    """The role of one column from its values (its name only as a hint), and the reason in words."""
    filled = values.dropna()
    rows = len(values)
    if filled.empty:
        return "constant", "every value is missing"
    distinct = int(filled.nunique())
    if distinct == 1:
        return "constant", f"one value ({filled.iloc[0]!r}) in every filled row"
    unique = distinct / len(filled)
    hint = " (its name says id)" if _hinted(name) else ""
    bar = HINTED_UNIQUE if hint else NEAR_UNIQUE
    if ptypes.is_datetime64_any_dtype(values):
        return "datetime", "stored as dates and times: calendar features"
    if ptypes.is_bool_dtype(values):
        return "categorical", "true/false: one-hot"
    if ptypes.is_numeric_dtype(values):
        numbers = filled.astype("float64")
        integral = bool((numbers == np.round(numbers)).all())
        if integral and unique >= bar:
            dense = float(numbers.max() - numbers.min()) + 1 <= DENSE_RANGE * distinct
            ordered = values.is_monotonic_increasing
            if dense or ordered or hint:
                how = "a dense range" if dense else "increasing row by row" if ordered else "near-unique"
                return "identifier", f"{distinct:,} distinct integers in {len(filled):,} filled rows ({how}){hint}"
        if unique >= NEAR_UNIQUE and not integral:
            return "numeric", "numbers (distinct per row, but not integers: a measure, not an identifier)"
        missing = rows - len(filled)
        return "numeric", "numbers" + (f", {_share(missing, rows)} missing" if missing else "")
    text = filled.astype(str)
    dates = _looks_like_dates(text)
    if dates >= DATE_SHARE:
        return "datetime", f"{100 * dates:.0f}% read as dates/times, e.g. {text.iloc[0]!r}: calendar features"
    words = float(_sample(text).str.count(r"\S+").mean())
    if unique >= bar or (words >= FREE_TEXT_WORDS and distinct > MAX_CATEGORIES):
        if words >= FREE_TEXT_WORDS:
            return (
                "text",
                f"free text ({words:.1f} words per value, {_share(distinct, len(filled))} distinct): not encoded",
            )
        return "identifier", f"{distinct:,} distinct of {len(filled):,} filled rows, codes like {text.iloc[0]!r}{hint}"
    if distinct <= MAX_CATEGORIES:
        return "categorical", f"{distinct} distinct values: one-hot"
    return "high_cardinality", f"{distinct:,} distinct values (over {MAX_CATEGORIES}): target-encoded"


def _codes(values: pd.Series) -> np.ndarray:
    """Each value's bin (numbers: quantiles, or the value when there are few) or category; -1 when missing."""
    if ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values) and values.nunique() > LEAK_BINS:
        ranks = values.rank(method="first")
        return pd.qcut(ranks, LEAK_BINS, labels=False, duplicates="drop").fillna(-1).to_numpy(dtype=np.int64)
    return pd.factorize(values.astype(object).where(values.notna(), None), use_na_sentinel=True)[0].astype(np.int64)


def one_feature_score(values: pd.Series, target: pd.Series, has_classes: bool, seed: int = 0) -> float:
    """How well the column alone predicts the target, out of fold: the target's mean per bin or category (smoothed
    toward the overall mean) learnt on the other folds, scored as roc_auc (classes; one-vs-rest weighted for more
    than two) or r2. Plain numpy: milliseconds per column."""
    from sklearn.metrics import r2_score, roc_auc_score

    codes = _codes(values) + 1  # 0: missing
    levels = int(codes.max()) + 1
    if has_classes:
        classes, labels = np.unique(target.astype(str).to_numpy(), return_inverse=True)
        outcome = np.eye(len(classes))[labels]
    else:
        outcome = target.to_numpy(dtype="float64").reshape(-1, 1)
    folds = np.random.default_rng(seed).permutation(len(codes)) % LEAK_FOLDS
    predicted = np.empty_like(outcome)
    for fold in range(LEAK_FOLDS):
        learn, score = folds != fold, folds == fold
        counts = np.bincount(codes[learn], minlength=levels)
        prior = outcome[learn].mean(axis=0)
        for j in range(outcome.shape[1]):
            sums = np.bincount(codes[learn], weights=outcome[learn, j], minlength=levels)
            predicted[score, j] = ((sums + prior[j]) / (counts + 1))[codes[score]]
    if not has_classes:
        return float(r2_score(outcome[:, 0], predicted[:, 0]))
    if len(classes) == 2:
        return float(roc_auc_score(labels, predicted[:, 1]))
    if min(np.bincount(labels)) < LEAK_FOLDS:
        return float("nan")
    return float(
        roc_auc_score(labels, predicted / predicted.sum(axis=1, keepdims=True), multi_class="ovr", average="weighted")
    )


def leaks(frame: pd.DataFrame, columns: list[str], target: str, has_classes: bool) -> dict[str, str]:
    """The columns whose one-feature score reaches LEAK_SCORE, each with the reason in words."""
    labelled = _sample(frame[[*columns, target]].dropna(subset=[target]))
    target_values = labelled[target].nunique()
    if len(labelled) < LEAK_MIN_ROWS or target_values < 2 or (not has_classes and labelled[target].std() == 0):
        return {}  # too few labelled rows, or one value, to tell (validate names a target that is all missing)
    found = {}
    for column in columns:
        score = one_feature_score(labelled[column], labelled[target], has_classes)
        if score >= LEAK_SCORE:
            metric = "roc_auc" if has_classes else "r2"
            found[column] = (
                f"LIKELY TARGET LEAK: alone it scores {metric} {score:.3f} ({LEAK_FOLDS}-fold, {len(labelled):,} "
                "rows); if it is not known when a prediction is made, set its role to ignore"
            )
    return found


def infer(
    frame: pd.DataFrame, target: str, task_has_classes: bool, overrides: Mapping[str, str] | None = None
) -> list[ColumnRole]:
    """Every column's role but the target's, in the table's order: params.yaml's (``overrides``) where it names one,
    else inferred; the likely leaks among the features named."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(map(str, frame.columns)))
    if unknown:
        raise UserError(
            f"prepare.roles names column(s) not in the data: {', '.join(unknown)} (make data rewrites the roles)"
        )
    if target in overrides:
        raise UserError(f"prepare.roles gives the target {target!r} a role: the target is no feature, remove it")
    found = []
    for column in (str(c) for c in frame.columns if str(c) != target):
        inferred, reason = infer_role(column, frame[column])
        role = overrides.get(column, inferred)
        if column in overrides and role != inferred:
            reason = f"set in params.yaml (inferred: {inferred}, {reason})"
        if role == "numeric" and not ptypes.is_numeric_dtype(frame[column]):
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = frame[column][numbers.isna() & frame[column].notna()]
            if len(bad):
                raise UserError(
                    f"prepare.roles: {column!r} is numeric in params.yaml but holds text, e.g. {bad.iloc[0]!r} in "
                    f"row {bad.index[0] + 1}: give it the role categorical (or {inferred}, as inferred)"
                )
        found.append(ColumnRole(column, role, reason, set_in_params=column in overrides))
    candidates = [r.column for r in found if r.role in ("numeric", "categorical", "high_cardinality")]
    leaking = leaks(frame, candidates, target, task_has_classes) if candidates else {}
    return [ColumnRole(r.column, r.role, r.reason, r.set_in_params, leaking.get(r.column, "")) for r in found]


def table(roles: list[ColumnRole], target: str) -> list[str]:
    """The roles as aligned lines: column, role, where it comes from, the reason (and the leak)."""
    width = max([len(target), *(len(r.column) for r in roles)])
    lines = [f"{'column':<{width}}  {'role':<16}  reason", f"{target:<{width}}  {'target':<16}  ingest.target"]
    for r in roles:
        note = f"; {r.leak}" if r.leak else ""
        used = "" if r.is_feature else " (not a feature)"
        lines.append(f"{r.column:<{width}}  {r.role:<16}  {r.reason}{used}{note}")
    return lines


def show(roles: list[ColumnRole], target: str) -> None:
    """Log the roles table, then one warning per likely leak (by name)."""
    log.info("column roles (override any in params.yaml prepare.roles):")
    for line in table(roles, target):
        log.info("  %s", line)
    for r in roles:
        if r.leak:
            log.warning("column %r: %s", r.column, r.leak)
