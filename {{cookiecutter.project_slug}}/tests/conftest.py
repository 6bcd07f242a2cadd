"""Fixtures: a throwaway copy of the project (params.yaml, gx/, data layout) with its own MLflow store, the pipeline
run once for the session, its champion in a BentoML store of the session, a running service, and a PostgreSQL
server. The helpers they use (and tests import) are in helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.core import config

from .helpers import Server, inside, make_project, postgres_server, run_pipeline, session_bentoml_home, start_server


@pytest.fixture
def tmp_project(tmp_path: Path) -> Iterator[Path]:
    """A fresh project copy as the working directory, with MLflow on a SQLite file inside it."""
    make_project(tmp_path)
    with inside(tmp_path):
        yield tmp_path


@pytest.fixture
def cfg(tmp_project: Path) -> config.Config:
    return config.load(tmp_project / "params.yaml")


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


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_bentoml_home(tmp_path_factory)


@pytest.fixture(scope="session")
def champion(trained_project: Path, bentoml_home: Path):
    """The trained project's champion, imported into the session's BentoML store."""
    from {{ cookiecutter.package_name }} import serving

    with inside(trained_project):
        return serving.import_champion(config.load("params.yaml"))


@pytest.fixture(scope="session")
def server(trained_project: Path, champion, bentoml_home: Path, tmp_path_factory) -> Iterator[Server]:
    """One running service for the session's HTTP tests."""
    running = start_server(trained_project, bentoml_home, tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def feature_rows(trained_project: Path, champion) -> list[dict]:
    """Holdout rows with only the served model's features, as JSON-ready records (missing values as null)."""
    import pandas as pd

    from {{ cookiecutter.package_name }} import serving

    names = serving.stored_schema(champion).names
    frame = pd.read_parquet(trained_project / "data" / "processed" / "test.parquet")[names]
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (skipped only when its binaries are not installed)."""
    with postgres_server() as url:
        yield url
