"""The JSON files that cross a stage boundary, one strict pydantic model each: written and read only through these.

=================  =============================  ================  ====================================
model              file (params.yaml ``paths:``)  written by        read by
=================  =============================  ================  ====================================
``Prepared``       reports/prepare.json           prepare           evaluate (logged to the run)
``Validation``     reports/validation.json        validate          train (lineage tags), review
``Candidate``      models/candidate.json          train             evaluate, register, review
``HoldoutMetrics`` reports/metrics.json           evaluate          register, review (a DVC metric)
``Registration``   reports/registration.json      register          review --registered
=================  =============================  ================  ====================================

A renamed or retyped field is a type error in every reader (strict mypy), not a KeyError at run time. A file that
does not match its model is one error naming the file and the field (``ReportError``). The feature schema
(features.json) keeps its dataclass, core/schema.py: one serialisation each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, model_serializer

from .errors import MissingFile, UserError


class ReportError(UserError):
    """A report file is there but does not have the shape its model says (written by another version, edited)."""


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def load(cls, path: Path) -> Self:
        """The report in ``path``; MissingFile when it is not there, ReportError when it does not fit the model."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise MissingFile(f"{path} not found") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in error.errors()[:5])
            raise ReportError(
                f"{path} is not a {cls.__name__} report ({problems}): run the stage that writes it again"
            ) from None

    @classmethod
    def read(cls, path: Path) -> Self | None:
        """The report in ``path``, or None when there is no such file."""
        return cls.load(path) if Path(path).exists() else None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2, fallback=str) + "\n")


class Prepared(Report):
    """prepare's row counts (duplicates are removed before the split)."""

    rows_in: int
    duplicates_removed: int
    missing_target_removed: int
    train_rows: int
    holdout_rows: int
    harvested_rows: int = 0  # labelled production rows in train (never in the holdout)


class Statistics(Report):
    """Great Expectations' counts for one validation run."""

    evaluated_expectations: int
    successful_expectations: int
    unsuccessful_expectations: int
    success_percent: float | None


class Failure(Report):
    """One failed expectation, as a person needs it: what, where, how many rows, and examples."""

    expectation: str
    column: str | None
    kwargs: dict[str, Any]
    unexpected_count: int | None
    element_count: int | None
    unexpected_percent: float | None
    examples: list[Any]
    rows: list[Any]
    observed: Any
    mismatched: Any
    error: str | None
    offending: str | None = None  # a numeric column's first text value and its row (data/explain.locate)


class Validation(Report):
    """validate's outcome: the suite's checks on the raw data."""

    success: bool
    statistics: Statistics
    failures: list[Failure]
    data_docs: str | None = None  # the Data Docs site's URL
    suite: str | None = None  # validate.suite, set by the stage

    @property
    def summary(self) -> str:
        """``<met>/<evaluated> expectations passed``, as the training run's lineage tag says it."""
        stats = self.statistics
        return f"{stats.successful_expectations}/{stats.evaluated_expectations} expectations passed"


class Candidate(Report):
    """train's winner: its MLflow run and logged model, and how the search found it.

    The cross-validated score is kept under ``cv_<train.metric>`` (the one extra key, a number)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    run_id: str
    run_name: str
    data_md5: str
    model_uri: str
    model_id: str
    family: str
    params: dict[str, Any]
    device: str
    trials: int
    best_trial_run_id: str

    @property
    def cv_scores(self) -> dict[str, float]:
        """``cv_<metric>`` -> the best trial's cross-validated score."""
        return dict(self.__pydantic_extra__ or {})


class SchemaChangeReport(Report):
    """What differs between the champion's feature schema and task and the candidate's (core/gate.SchemaChange)."""

    added: list[str]
    removed: list[str]
    retyped: list[tuple[str, str, str]]  # (column, champion's kind, candidate's kind)
    task: tuple[str, str] | None  # (champion's, candidate's)
    classes: tuple[list[str], list[str]] | None  # (champion's, candidate's) labels
    summary: str


class ChampionScores(Report):
    """The champion on the candidate's holdout: its metrics (one key each, as a DVC metric), or why there are none:
    ``error`` (it could not be loaded or scored) or ``schema_change`` (trained on other features or another task)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    version: int
    error: str | None = None
    schema_change: SchemaChangeReport | None = None

    @property
    def scores(self) -> dict[str, float]:
        return dict(self.__pydantic_extra__ or {})

    @model_serializer(mode="wrap")
    def _only_what_is_there(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in ("error", "schema_change") and v is None)}


class HoldoutMetrics(Report):
    """evaluate's numbers, all on the same holdout: the candidate, the current champion (None: there is none yet)
    and a model that ignores the features (the training prior or mean)."""

    candidate: dict[str, float]
    champion: ChampionScores | None
    baseline: dict[str, float]
    holdout_rows: int


class CheckReport(Report):
    name: str
    passed: bool
    detail: str


class OnnxOutcome(Report):
    parity: str | None  # held | failed | not_converted
    reason: str | None


class Registration(Report):
    """register's decision: the version, the gate's checks, and where `champion` points before and after."""

    model_name: str
    version: int
    promoted: bool
    checks: list[CheckReport]
    reasons: list[str]
    schema_change: str | None
    champion_before: int | None
    champion_after: int | None
    onnx: OnnxOutcome
