"""Fixtures: a throwaway copy of the project (params.yaml, gx/, data layout) with its own MLflow store.

The shipped table tests/data/customers.csv has categorical text columns and missing values, and a target
for each task (`churned` for classification, `lifetime_spend` for regression), so every stage is exercised
on the kind of data real projects have.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml

from {{ cookiecutter.package_name }} import config

PROJECT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
TARGETS = {"classification": "churned", "regression": "lifetime_spend"}
PATHS = config.load(PROJECT / "params.yaml").paths  # the pipeline's files (params.yaml `paths:`), relative


def small_params(task: str) -> dict[str, Any]:
    """The project's params.yaml pointed at the shipped table, with a quick two-trial search."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    target = TARGETS[task]
    other = TARGETS["regression" if task == "classification" else "classification"]
    params["ingest"] = {
        "source": "data/external/customers.csv",
        "target": target,
        "drop_columns": ["customer_id", other],
    }
    family = "logistic_regression" if task == "classification" else "ridge"
    params["train"]["cv_folds"] = 3
    params["train"]["search"] = {
        "strategy": "grid",
        "max_trials": 4,
        "max_seconds": 120,
        "candidates": [
            {"family": family, "params": {}},
            {"family": "hist_gradient_boosting", "params": {"max_depth": [3]}},
        ],
    }
    params["register"]["floor"] = 0.55 if task == "classification" else 0.1
    return params


def write_params(root: Path, params: dict[str, Any]) -> config.Config:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return config.load(root / "params.yaml")


def make_project(root: Path) -> None:
    """params.yaml, the committed gx/ files and the data layout, as in a fresh clone."""
    shutil.copytree(PROJECT / "gx", root / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    (root / "vendor").symlink_to(PROJECT / "vendor")  # the web assets Data Docs are made offline with
    (root / "data" / "external").mkdir(parents=True)
    shutil.copy(DATA / "customers.csv", root / "data" / "external" / "customers.csv")
    task = config.load(PROJECT / "params.yaml").task
    write_params(root, small_params(task))


@contextmanager
def inside(root: Path) -> Iterator[None]:
    before, uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])  # MLflow also keeps the URI of the last configure()
    try:
        yield
    finally:
        os.chdir(before)
        if uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)  # type: ignore[arg-type]  # MLflow's hint omits it, but None resets to the environment or the default


@pytest.fixture
def tmp_project(tmp_path: Path) -> Iterator[Path]:
    """A fresh project copy as the working directory, with MLflow on a SQLite file inside it."""
    make_project(tmp_path)
    with inside(tmp_path):
        yield tmp_path


@pytest.fixture
def cfg(tmp_project: Path) -> config.Config:
    return config.load(tmp_project / "params.yaml")


def run_pipeline(cfg: config.Config, *, until: str = "register") -> None:
    """The stages in dvc.yaml order, in-process (drafting the GX suite from the data first)."""
    from {{ cookiecutter.package_name }}.stages import evaluate, ingest, prepare, register, train, validate

    ingest.run(cfg)
    validate.init(cfg)
    for stage in (validate, prepare, train, evaluate, register):
        stage.run(cfg)
        if stage.__name__.endswith(until):
            return


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy with the whole pipeline run once and a champion registered (read-only for tests)."""
    root = tmp_path_factory.mktemp("trained")
    make_project(root)
    with inside(root):
        run_pipeline(config.load("params.yaml"))
    return root


@pytest.fixture
def in_trained(trained_project: Path) -> Iterator[Path]:
    with inside(trained_project):
        yield trained_project
