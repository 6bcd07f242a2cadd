"""Typed configuration: one strict model per section of params.yaml.

Every model forbids unknown keys, so a misspelt key in params.yaml is an error that names it, not a silently
ignored setting. ``load()`` is the only way the stages read params.yaml.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .metrics import GREATER_IS_BETTER, metrics_for

PARAMS_FILE = Path("params.yaml")
EXTERNAL_DATA = Path("data/external")
SKLEARN_DATASETS = {
    "classification": ("breast_cancer", "iris", "wine", "digits"),
    "regression": ("diabetes",),
}
Task = Literal["classification", "regression"]


class UserError(Exception):
    """A problem the user can fix (bad params, data or environment): reported as one message, no traceback."""


class ConfigError(UserError):
    """params.yaml is missing, unreadable or does not match the expected shape."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ingest(Section):
    source: str = Field(description="sklearn:<dataset> or a CSV/Parquet path under data/external/")
    target: str = Field(min_length=1)
    drop_columns: tuple[str, ...] = ()

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value.startswith("sklearn:"):
            name = value.removeprefix("sklearn:")
            known = sorted({n for names in SKLEARN_DATASETS.values() for n in names})
            if name not in known:
                raise ValueError(f"unknown scikit-learn dataset {name!r}; bundled ones are {', '.join(known)}")
            return value
        path = Path(value)
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"{value!r} is neither sklearn:<dataset> nor a .csv or .parquet file")
        if path.is_absolute() or EXTERNAL_DATA not in path.parents:
            raise ValueError(f"{value!r} must be a relative path under {EXTERNAL_DATA}/ so DVC sees when it changes")
        return value

    @property
    def sklearn_dataset(self) -> str | None:
        return self.source.removeprefix("sklearn:") if self.source.startswith("sklearn:") else None


class Validate(Section):
    suite: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")


class Prepare(Section):
    test_size: float = Field(gt=0, lt=1)
    seed: int
    stratify: bool


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
    strategy: Literal["grid", "random"]
    max_trials: int = Field(gt=0)
    max_seconds: float = Field(gt=0)
    candidates: tuple[Candidate, ...] = Field(min_length=1)


class Train(Section):
    seed: int
    cv_folds: int = Field(ge=2)
    metric: str
    device: Literal["auto", "cpu", "cuda"] = "auto"
    search: Search


class Register(Section):
    metric: str
    min_improvement: float = Field(ge=0)
    floor: float


class Tracking(Section):
    uri: str = Field(min_length=1)
    experiment: str = Field(min_length=1)
    model_name: str = Field(min_length=1)

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
    """The analytics client's policy (monitoring.py): what window to read, when to judge, when to alert or retrain."""

    window: str = Field(pattern=r"^[1-9][0-9]*[mhd]$", description="default --since: minutes, hours or days")
    min_rows: int = Field(ge=1, description="fewer served rows in the window: no judgement")
    drift_share: float = Field(gt=0, le=1, description="share of drifted features that alerts (dataset drift)")
    min_labelled: int = Field(ge=1, description="fewer labelled rows: live metrics are shown, not judged")
    max_metric_drop: float = Field(ge=0, description="live register.metric this much worse than holdout: retrain")
    max_rows: int = Field(ge=100, description="served rows read for drift and quality (a random sample beyond)")
    online_features: float = Field(ge=0, le=1, description="share of online requests whose features are kept")
    batch_sample_rows: int = Field(ge=0, description="rows of each batch job whose features are kept")
    retention_days: int | None = Field(default=None, ge=1, description="delete served rows older than this")


class Config(Section):
    task: Task
    ingest: Ingest
    validate_: Validate = Field(alias="validate")
    prepare: Prepare
    train: Train
    register_: Register = Field(alias="register")
    tracking: Tracking
    serving: Serving
    monitor: Monitor

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> Config:
        allowed = metrics_for(self.task)
        for section, metric in (("train", self.train.metric), ("register", self.register_.metric)):
            if metric not in allowed:
                raise ValueError(
                    f"{section}.metric {metric!r} is not a {self.task} metric; use one of {', '.join(allowed)}"
                )
        dataset = self.ingest.sklearn_dataset
        if dataset is not None and dataset not in SKLEARN_DATASETS[self.task]:
            raise ValueError(f"ingest.source {self.ingest.source!r} is not a {self.task} dataset")
        return self

    @property
    def greater_is_better(self) -> bool:
        return GREATER_IS_BETTER[self.register_.metric]


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (misspelt?)"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def parse(data: Any, origin: str = str(PARAMS_FILE)) -> Config:
    """Build the config from already-loaded YAML; errors name each offending key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{origin} is invalid:\n{_describe(error)}") from None


def load(path: Path | str = PARAMS_FILE) -> Config:
    """Read and check params.yaml."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run commands from the project root") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse(data, str(path))
