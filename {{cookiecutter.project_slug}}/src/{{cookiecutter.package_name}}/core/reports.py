"""The JSON files that cross a stage boundary, one strict pydantic model each: written and read only through these.

=================  =============================  ================  ====================================
model              file (params.yaml ``paths:``)  written by        read by
=================  =============================  ================  ====================================
``Prepared``       reports/prepare.json           prepare           evaluate (logged to the run)
``Validation``     reports/validation.json        validate          train (lineage tags), review
``Candidate``      models/candidate.json          train             evaluate, register, review
``HoldoutMetrics`` reports/metrics.json           evaluate          register, review (a DVC metric)
``Registration``   reports/registration.json      register          review --registered
``ServiceProfile`` reports/profile.json           make profile      make manifests
=================  =============================  ================  ====================================

A renamed or retyped field is a type error in every reader (strict mypy), not a KeyError at run time. A file that
does not match its model is one error naming the file and the field (``ReportError``). The feature schema
(features.json) keeps its dataclass, core/schema.py: one serialisation each.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, model_serializer

from .decision import Threshold
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
    """prepare's row counts, in the order it takes them: rows without a target first (``rows_in`` = the four
    counts after it summed, less ``harvested_rows``), then exact duplicates of the whole raw row, then the split, then
    the harvested rows added to train. Every value is a number (evaluate logs them as ``prepare_<name>`` metrics)."""

    rows_in: int
    missing_target_removed: int
    missing_target_share: float  # of rows_in
    duplicates_removed: int
    train_rows: int
    holdout_rows: int
    identical_feature_rows: int  # rows whose features equal another row's (other ids): kept on one side of the split
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
    threshold: float | None = None  # the tuned decision threshold the model applies (training/threshold.py)
    threshold_objective: str | None = None  # what it was tuned for

    @property
    def decision_threshold(self) -> Threshold | None:
        """The threshold as the feature schema carries it (Schema.with_threshold)."""
        return None if self.threshold is None else Threshold(self.threshold, self.threshold_objective or "")

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
    """The champion on the candidate's holdout: its metrics (one key each, as a DVC metric), scored with its own
    columns also when the candidate's differ (``schema_change`` then names the difference), or why there are none:
    ``unscorable`` (the columns it needs are gone, another target or task: nothing fair to compare) or ``error``
    (it could not be loaded or scored)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, float] = Field(init=False)

    version: int
    error: str | None = None
    schema_change: SchemaChangeReport | None = None
    unscorable: str | None = None

    @property
    def scores(self) -> dict[str, float]:
        return dict(self.__pydantic_extra__ or {})

    @model_serializer(mode="wrap")
    def _only_what_is_there(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in ("error", "schema_change", "unscorable") and v is None)}


class AtThreshold(Report):
    """The positive class's precision, recall and f1 on the holdout at one decision threshold."""

    precision: float
    recall: float
    f1: float


class ThresholdReport(Report):
    """A binary target's decision rule on the holdout: the tuned threshold (None: the most probable class) and what
    the candidate scores at it and at 0.5 (the most probable class)."""

    positive_class: Any
    threshold: float | None
    objective: str | None
    at_threshold: AtThreshold
    at_0_5: AtThreshold


class HoldoutMetrics(Report):
    """evaluate's numbers, all on the same holdout: the candidate, the current champion (None: there is none yet)
    and a model that ignores the features (the training prior or mean); for a binary target, the candidate at its
    threshold and at 0.5 (``threshold``). Its f1, precision, recall and accuracy are at its threshold."""

    candidate: dict[str, float]
    champion: ChampionScores | None
    baseline: dict[str, float]
    holdout_rows: int
    threshold: ThresholdReport | None = None


class CheckReport(Report):
    name: str
    passed: bool
    detail: str


class OnnxOutcome(Report):
    parity: str | None  # held | failed | not_converted
    reason: str | None


PROFILE_TAG = "profile."  # a version's profile, one tag per field: profile.latency_p99_ms, ...


class Profile(Report):
    """A version in the runtime that serves it (training/profiling.py): tagged on the version (``profile.<field>``),
    in reports/registration.json, and beside the champion's in the review."""

    runtime: str  # onnxruntime | scikit-learn
    latency_p50_ms: float  # one holdout row per call, the call's CPU time on one thread, after warm-up
    latency_p99_ms: float
    rows_per_s: float  # the whole holdout per call, rows per CPU second of one thread
    size_mb: float  # the model file, MiB
    load_s: float  # loading it in a fresh process (imports excluded)
    rss_mb: float  # that process's peak resident memory once the model is loaded, MiB
    features: int  # input features

    def tags(self) -> dict[str, str]:
        return {f"{PROFILE_TAG}{key}": str(value) for key, value in self.model_dump().items()}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Profile | None:
        """The profile a version's tags hold; None when it has none (registered before profiling) or not all."""
        found = {key: tags[f"{PROFILE_TAG}{key}"] for key in cls.model_fields if f"{PROFILE_TAG}{key}" in tags}
        try:
            return cls.model_validate(found)
        except ValidationError:
            return None


class Registration(Report):
    """register's decision: the version, the gate's checks, and where `champion` points before and after."""

    model_name: str
    version: int
    promoted: bool
    checks: list[CheckReport]
    reasons: list[str]
    schema_change: str | None
    comparison: str = ""  # which case the gate applied: no champion, the same holdout rows, or why not scored
    champion_before: int | None
    champion_after: int | None
    onnx: OnnxOutcome
    profile: Profile | None = None  # the version's own
    champion_profile: Profile | None = None  # the champion's before, as its tags hold it


class LoadTest(Report):
    """``make profile``'s load test: the real service on loopback, single-row requests from ``concurrency`` clients."""

    seconds: float
    concurrency: int
    workers: int  # the service's worker processes (SERVING_WORKERS)
    requests: int  # answered with 200
    errors: int  # anything else
    requests_per_s: float
    latency_p50_ms: float  # as the clients saw it
    latency_p99_ms: float
    cpu_ms_per_request: float  # CPU time of the service's processes, per answered request
    cpu_cores: float  # the service's processes: CPU seconds per second of the load
    rss_mb: float  # the service's processes together, the largest resident memory sampled (MiB)


class Sizing(Report):
    """What one replica asks Kubernetes for, and how many replicas serve ``target_rps`` (serving/sizing.py)."""

    target_rps: float
    cpu_request_m: int  # millicores
    memory_request_mi: int
    memory_limit_mi: int
    cpu_utilization: int  # the autoscaler's target, percent of the CPU request
    replica_rps: float  # what one replica serves at that utilization
    replicas: int  # what serves target_rps (the autoscaler's floor may be higher)
    min_replicas: int
    max_replicas: int


class ServiceProfile(Report):
    """reports/profile.json: the served version, its load test and the resources it needs (``make manifests``)."""

    model_name: str
    model_version: str
    runtime: str
    load_test: LoadTest
    sizing: Sizing
