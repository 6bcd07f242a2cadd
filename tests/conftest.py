"""Fixtures and ordering for the template's tests.

Fast tests only render (``rendered``: each set of answers baked once per run and shared, across modules and across
pytest-xdist workers). Tests marked ``slow`` install a project's locked environment (uv, cached after the first
time) and run real DVC, MLflow and Great Expectations; the expensive set-up projects are session fixtures here.

Under pytest-xdist (`make test` runs `--dist loadgroup`), each test that uses a module-scoped fixture or one of the
set-up projects is put in one group with the tests that share it, so that the fixture is built once, on one
worker; the groups run longest first. Helpers live in plain modules (tests/projects.py, tests/matrix.py,
tests/workflow_checks.py): test modules import from those, never from each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .projects import bake, project_env, run, setup_project

# The slow units (a shared project's group, or a module), longest first, so that pytest-xdist starts them first; a
# unit not listed runs after these. Their summed test durations in one `make test` (2 workers, this 2-core machine
# shared, load about 12): default_project 2792 s, set_up_project 1970 s, test_own_data 1520 s, test_act 1035 s,
# gpu_project 528 s, test_pipeline's own bake 396 s, test_supply_chain and test_cruft 36 s each. test_imbalanced
# (its own bake and 12,000-row pipeline) took 740 s run alone on the same shared machine, not yet timed in `make test`.
SLOW_ORDER = (
    "default_project",
    "set_up_project",
    "test_own_data.py",
    "test_messy_table.py",
    "test_act.py",
    "test_imbalanced.py",
    "gpu_project",
    "test_pipeline.py",
    "test_supply_chain.py",
    "test_cruft.py",
)
# The shared default project's users, in this order: file order (test_pages reads the first pipeline's candidate
# before test_pipeline retrains; the modules after it were written to follow it), the benchmarks' smoke runs last.
DEFAULT_PROJECT_ORDER = (
    "test_mermaid.py",
    "test_pages.py",
    "test_pipeline.py",
    "test_scaling.py",
    "test_serving.py",
    "test_contract.py",
    "test_profile.py",
    "test_benchmarks.py",
)
SHARED_PROJECTS = ("default_project", "set_up_project", "gpu_project")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: installs a baked project and runs it end to end")


def group_of(item: pytest.Item) -> str | None:
    """The pytest-xdist group: the set-up project the test uses, else its module if it uses a module fixture."""
    names = getattr(item, "fixturenames", ())
    for shared in SHARED_PROJECTS:
        if shared in names:
            return shared
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info else ()
    if any(d[-1].scope == "module" for d in definitions if d):
        return item.path.name
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fast tests first (a template typo fails in seconds), then the slow groups longest first; each test gets its
    xdist group. Within a module the file order stays (the slow modules rely on it)."""
    groups = {item.nodeid: group_of(item) for item in items}

    def rank(item: pytest.Item) -> tuple[int, int, int]:
        if item.get_closest_marker("slow") is None:
            return (0, 0, 0)
        unit = groups[item.nodeid] or item.path.name
        order = SLOW_ORDER.index(unit) if unit in SLOW_ORDER else len(SLOW_ORDER)
        within = DEFAULT_PROJECT_ORDER.index(item.path.name) if unit == "default_project" else 0
        return (1, order, within)

    items.sort(key=rank)  # stable: file order within each rank
    for item in items:
        if groups[item.nodeid]:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))


def run_root(factory: pytest.TempPathFactory) -> Path:
    """This run's temporary folder, shared by all pytest-xdist workers (each worker's base folder is inside it)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold ``lock`` (a file) exclusively, across processes."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``rendered(**answers)``: the template baked with these answers, once per run, shared by every test and worker
    that asks for the same answers. Read it; never write into it (copy what a test changes)."""
    root = run_root(tmp_path_factory) / "rendered"

    def project(**answers: str) -> Path:
        key = hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()[:16]
        folder, made = root / key, root / f"{key}.project"
        with exclusive(root / f"{key}.lock"):
            if not made.exists():
                shutil.rmtree(folder, ignore_errors=True)  # a bake that failed earlier in this run
                made.write_text(str(bake(folder, **answers)))
        return Path(made.read_text())

    return project


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default answers, baked, set up and with `make pipeline` run once (shared by the slow tests)."""
    project = setup_project(bake(tmp_path_factory.mktemp("default")))
    run(["make", "pipeline"], project)
    return project


@pytest.fixture(scope="session")
def set_up_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default answers baked and set up, its pipeline never run: for tests that run their pipelines in git
    clones of it (with its .venv), so that they need not wait for the default project's users."""
    return setup_project(bake(tmp_path_factory.mktemp("set-up")))


@pytest.fixture(scope="session")
def spark_project(default_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project with the locked `spark` extra added (`make setup-spark`). Before adding it, checks that
    `make batch ENGINE=spark` without the extra ends in one line naming `make setup-spark` (and the Java it needs),
    no traceback and nothing written: only here is the extra known to be absent."""
    db = tmp_path_factory.mktemp("no-spark") / "serving.db"
    env = project_env(default_project) | {"SERVING_DB_URL": f"sqlite:///{db}"}
    done = run(["make", "batch", "ENGINE=spark"], default_project, env=env, check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0 and len(errors) == 1 and "make setup-spark" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr and not db.exists()
    run(["make", "setup-spark"], default_project, timeout=900)
    return default_project


@pytest.fixture(scope="session")
def gpu_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The GPU runner's answer baked and set up (XGBoost installed from its lock); its pipeline not run."""
    return setup_project(bake(tmp_path_factory.mktemp("gpu-variant"), training_runner="self-hosted-gpu"))
