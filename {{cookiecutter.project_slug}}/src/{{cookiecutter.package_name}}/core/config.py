"""Typed configuration: one strict model per section of params.yaml.

Every model forbids unknown keys, so a misspelt key in params.yaml is an error that names it, not a silently
ignored setting. ``load()`` is the only way the stages read params.yaml.

Keys left out follow the task (``_task_defaults``), and the metric keys the data too: when prepare has written the
feature schema (paths.features), ``load()`` reads its positive share, and a binary target under 10% positives
defaults to average precision with a floor above its chance level (core/metrics.default_metric, default_floor).
Every stage that reads the metric lists features.json among its deps, so DVC reruns it when that changes; what
the data chose, and why, is ``Config.data_defaults`` (train and register log it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .config_checks import cross_check
from .decision import ThresholdTuning
from .errors import ConfigError as ConfigError  # re-exported: every module reads the errors from config
from .errors import UserError as UserError
from .metrics import GREATER_IS_BETTER, METRICS, TASKS, default_floor, default_metric

PARAMS_FILE = Path("params.yaml")
# tracking.model_name: what the review comment's hidden marker can carry (pr-review.yml's marker regex)
MODEL_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
CHUNK_ROWS = 100_000  # batch scoring: rows per chunk (read, scored and written in one transaction); --chunk-rows
SKLEARN_DATASETS = {t.name: t.datasets for t in TASKS.values()}
TaskName = Literal["classification", "regression"]  # metrics.TASKS holds what each one means


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ingest(Section):
    source: str = Field(description="sklearn:<dataset> or a CSV/Parquet path under data/external/")
    target: str = Field(min_length=1)
    drop_columns: tuple[str, ...] = ()
    delimiter: str = Field(default=",", min_length=1, max_length=1)  # CSV column separator

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value.startswith("sklearn:"):
            name = value.removeprefix("sklearn:")
            known = sorted({n for names in SKLEARN_DATASETS.values() for n in names})
            if name not in known:
                raise ValueError(f"unknown scikit-learn dataset {name!r}; bundled ones are {', '.join(known)}")
            return value
        if Path(value).suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"{value!r} is neither sklearn:<dataset> nor a .csv or .parquet file")
        return value  # that it lies under paths.external is a cross-check (cross_check)

    @property
    def sklearn_dataset(self) -> str | None:
        return self.source.removeprefix("sklearn:") if self.source.startswith("sklearn:") else None


class Paths(Section):
    """Every file the pipeline reads or writes, named once (params.yaml says what each is): dvc.yaml uses them as
    ``${paths.<key>}`` (deps, outs, metrics, plots) and hands them to each stage on its command line; the other
    commands (data, review, monitor, harvest ...) read them from here."""

    external: Path
    raw: Path
    validation: Path
    train: Path
    holdout: Path
    features: Path
    prepared: Path
    candidate: Path
    metrics: Path
    plots: Path
    figures: Path
    registration: Path
    # make harvest's rows (DVC-tracked), which prepare adds to train only; under `external`, prepare's dep
    harvested: Path

    @field_validator("*")
    @classmethod
    def _relative(cls, value: Path) -> Path:
        if value.is_absolute() or ".." in value.parts or value == Path():
            raise ValueError(f"{str(value)!r} must be a path inside the project (relative, no '..')")
        return value


class Validate(Section):
    suite: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")


# What a column is to the model (data/roles.py: how each is inferred, what each becomes)
Role = Literal["identifier", "datetime", "numeric", "categorical", "high_cardinality", "text", "constant", "ignore"]


class Prepare(Section):
    test_size: float = Field(gt=0, lt=1)
    seed: int
    stratify: bool  # left out: true for classification, false for regression
    # a binary target's class that f1/precision/recall/average precision score; left out: the minority class
    positive_class: str | int | float | bool | None = None
    roles: dict[str, Role] = Field(default_factory=dict)  # column -> role; a column left out is inferred
    memory_budget_gb: float | None = Field(default=None, gt=0)  # left out: a quarter of the memory (training/budget.py)


class Candidate(Section):
    family: str
    params: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _non_empty_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [name for name, values in value.items() if not values]
        if empty:
            raise ValueError(f"no values to try for {', '.join(empty)}")
        return value


class Search(Section):
    # auto: Optuna over families chosen by the data and their distributions (training/auto_search.py); candidates
    # are then not read. grid / random: the candidates' value lists.
    strategy: Literal["auto", "grid", "random"]
    max_trials: int | None = Field(default=None, gt=0)  # left out: as many as max_seconds allows
    max_seconds: float = Field(gt=0)
    candidates: tuple[Candidate, ...] = Field(default=(), validate_default=True)
    storage: str | None = None  # auto only: an Optuna RDB URL (postgresql://...) that several runners share

    @field_validator("candidates")
    @classmethod
    def _candidates_for_lists(cls, value: tuple[Candidate, ...], info: ValidationInfo) -> tuple[Candidate, ...]:
        strategy = info.data.get("strategy")
        if strategy != "auto" and not value:
            raise ValueError(f"strategy {strategy!r} needs at least one candidate (or use strategy: auto)")
        return value


class Train(Section):
    seed: int
    cv_folds: int = Field(ge=2)
    metric: str  # left out: the task's default (metrics.default_metric: average precision for rare positives)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threshold: ThresholdTuning  # left out: f1 for classification (binary targets), none for regression
    search: Search


class Register(Section):
    metric: str  # left out: train.metric
    min_improvement: float = Field(default=0.001, ge=0)  # the candidate must beat the champion by MORE than this
    floor: float | None = None  # left out: the metric's default floor (metrics.METRICS), which may be none
    # Budgets on the version's profile (training/profiling.py); each left out: no budget
    max_latency_ms: float | None = Field(default=None, gt=0)  # single-row p99 in the runtime that serves it
    max_size_mb: float | None = Field(default=None, gt=0)  # the model file on disk
    max_rss_mb: float | None = Field(default=None, gt=0)  # a fresh serving process with the model loaded
    max_slowdown: float | None = Field(default=5.0, gt=1)  # p99 over this many times the champion's: refused ...
    allow_slowdown: bool = False  # ... unless this allowance is given


class Tracking(Section):
    uri: str = Field(min_length=1)
    experiment: str = Field(min_length=1)
    model_name: str = Field(min_length=1)

    @field_validator("model_name")
    @classmethod
    def _marker_name(cls, value: str) -> str:
        if not MODEL_NAME.match(value):
            raise ValueError(
                f"{value!r} cannot name the pull-request review comment (its hidden marker): "
                "use letters, digits, '.', '_' and '-' only"
            )
        return value

    @property
    def resolved_uri(self) -> str:
        """MLFLOW_TRACKING_URI (set by CI) wins over params.yaml."""
        return os.environ.get("MLFLOW_TRACKING_URI") or self.uri


class Serving(Section):
    db_url: str = Field(min_length=1)

    @property
    def resolved_db_url(self) -> str:
        """SERVING_DB_URL (set by CI or deployment) wins over params.yaml."""
        return os.environ.get("SERVING_DB_URL") or self.db_url


class Monitor(Section):
    """The analytics client's policy (monitoring/): what window to read, when to judge, when to alert or retrain."""

    window: str = Field(pattern=r"^[1-9][0-9]*[mhd]$", description="default --since: minutes, hours or days")
    min_rows: int = Field(ge=1, description="fewer served rows in the window: no judgement")
    drift_share: float = Field(gt=0, le=1, description="share of drifted features that alerts (dataset drift)")
    min_labelled: int = Field(ge=1, description="fewer labelled rows: live metrics are shown, not judged")
    max_metric_drop: float = Field(ge=0, description="live register.metric this much worse than holdout: retrain")
    max_rows: int = Field(ge=100, description="served rows read for drift and quality (a random sample beyond)")
    online_features: float = Field(ge=0, le=1, description="share of online requests whose features are kept")
    batch_sample_rows: int = Field(ge=0, description="rows of each batch job whose features are kept")
    retention_days: int | None = Field(default=90, ge=1, description="delete served rows older than this")


class Config(Section):
    task: TaskName
    ingest: Ingest
    validate_: Validate = Field(alias="validate")
    prepare: Prepare
    train: Train
    register_: Register = Field(alias="register")
    tracking: Tracking
    serving: Serving
    monitor: Monitor
    paths: Paths

    _data_defaults: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        """Keys left out of params.yaml follow `task` (and the metric keys the data's positive share, when
        ``parse`` is given it), so switching task is one change."""
        task = data.get("task") if isinstance(data, dict) else None
        if task not in TASKS:
            return data
        context = info.context if isinstance(info.context, dict) else {}
        share = context.get("positive_share")
        chosen: dict[str, str] = context.setdefault("data_defaults", {})
        data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
        if isinstance(data.get("prepare"), dict):
            data["prepare"].setdefault("stratify", TASKS[task].has_classes)
        if isinstance(data.get("train"), dict):
            if "metric" not in data["train"]:
                data["train"]["metric"], why = default_metric(task, share)
                if why:
                    chosen["train.metric"] = why
            threshold = data["train"].get("threshold", {})
            if isinstance(threshold, dict) and "objective" not in threshold:
                data["train"]["threshold"] = threshold | {"objective": "f1" if TASKS[task].has_classes else "none"}
        if isinstance(data.get("register"), dict) and isinstance(data.get("train"), dict):
            if "metric" not in data["register"]:
                data["register"]["metric"] = data["train"]["metric"]
                if "train.metric" in chosen:
                    chosen["register.metric"] = "it follows train.metric"
            metric = str(data["register"]["metric"])
            if metric in METRICS and "floor" not in data["register"]:
                data["register"]["floor"] = default_floor(metric, share)
                if data["register"]["floor"] != METRICS[metric].default_floor:
                    chosen["register.floor"] = (
                        f"{data['register']['floor']}: the positive share {share:.4f} (what a model that ignores "
                        "the features scores) plus a fifth of the way to 1, as ROC AUC's 0.6 is above its 0.5"
                    )
        return data

    @property
    def data_defaults(self) -> dict[str, str]:
        """Keys left out of params.yaml whose default the data chose (the positive share): key -> why."""
        return dict(self._data_defaults)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        """Task, metrics, candidate families, stratify and the floor must agree: every problem at once, each with its fix."""
        problems = cross_check(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def greater_is_better(self) -> bool:
        return GREATER_IS_BETTER[self.register_.metric]


def _describe(error: ValidationError) -> str:
    lines: list[str] = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (misspelt?)"
        if not where:  # the cross-checks: each line already names its key
            lines.extend(f"  {line}" for line in message.splitlines())
            continue
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def parse(data: Any, origin: str = str(PARAMS_FILE), *, positive_share: float | None = None) -> Config:
    """Build the config from already-loaded YAML; errors name each offending key. ``positive_share``: the share of
    a binary target's positive class in the training rows (the feature schema's), which the metric defaults follow."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections, got {type(data).__name__}")
    context: dict[str, Any] = {"positive_share": positive_share}
    try:
        cfg = Config.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(f"{origin} is invalid:\n{_describe(error)}") from None
    cfg._data_defaults = dict(context.get("data_defaults", {}))
    return cfg


def prepared_positive_share(path: Path) -> float | None:
    """The positive share prepare wrote into the feature schema (features.json); None without one (a fresh
    clone, a multi-class or regression target, a file from before it was recorded)."""
    try:
        share = json.loads(path.read_text()).get("positive_share")
    except (OSError, ValueError, AttributeError):
        return None
    return float(share) if isinstance(share, int | float) and not isinstance(share, bool) else None


def load(path: Path | str = PARAMS_FILE) -> Config:
    """Read and check params.yaml; the metric defaults follow the prepared data's positive share when there is one."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run commands from the project root") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    cfg = parse(data, str(path))
    share = prepared_positive_share(path.parent / cfg.paths.features)
    return cfg if share is None else parse(data, str(path), positive_share=share)
