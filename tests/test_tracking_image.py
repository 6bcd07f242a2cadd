"""The tracking server's image (deploy/tracking/Dockerfile) installs a locked, hash-checked set that includes boto3.

Issue 21 found `pip install -r requirements.lock boto3`: pip checks hashes as soon as one requirement has them, and
boto3 had none, so the image never built (and boto3's botocore needs a python-dateutil the local lock excludes).
The image now installs deploy/tracking/requirements.lock (written by `make lock` in the template and in a project)
and nothing else, then the package offline. Fast: what the Dockerfile runs and what the lock holds. Slow (PyPI): the
Dockerfile's own install, read from its RUN lines, resolves with every hash required, for each Python version.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from .locks import REQUIREMENT, lock_findings
from .projects import DEFAULTS, bake

LOCK = "deploy/tracking/requirements.lock"


def pip_installs(dockerfile: str) -> list[list[str]]:
    """The arguments of every `pip install` in the Dockerfile's RUN lines."""
    text = dockerfile.replace("\\\n", " ")
    commands = [c for line in re.findall(r"^RUN (.*)$", text, re.MULTILINE) for c in re.split(r"&&|;", line)]
    return [shlex.split(c)[2:] for c in commands if shlex.split(c)[:2] == ["pip", "install"]]


def requirements_of(arguments: list[str]) -> tuple[list[str], list[str]]:
    """The -r files and the bare requirements of one `pip install` (editable installs and flag values left out)."""
    files, names, skip = [], [], False
    for index, argument in enumerate(arguments):
        if skip:
            skip = False
        elif argument in ("-r", "--requirement"):
            files.append(arguments[index + 1])
            skip = True
        elif argument in ("-e", "--editable", "-c", "--constraint"):
            skip = True
        elif not argument.startswith("-"):
            names.append(argument)
    return files, names


def requirement_name(requirement: str) -> str:
    """The distribution name a PEP 508 requirement starts with."""
    found = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert found is not None, f"a distribution name at the start of the requirement {requirement!r}"
    return found[0]


@pytest.fixture(scope="module", params=DEFAULTS["python_version"])
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("tracking"), python_version=request.param)


def test_the_image_installs_only_the_hash_checked_lock_then_the_package_offline(project: Path) -> None:
    dependencies, package = pip_installs((project / "deploy" / "tracking" / "Dockerfile").read_text())
    assert requirements_of(dependencies) == ([LOCK], [])
    assert {"--require-hashes", "--no-deps"} <= set(dependencies)
    assert requirements_of(package) == ([], []) and {"--no-build-isolation", "--no-index", "--no-deps"} <= set(package)


def test_the_lock_holds_boto3_and_every_dependency_with_its_hash(project: Path) -> None:
    text = (project / LOCK).read_text()
    assert lock_findings(text) == []
    locked = {name.lower().replace("_", "-") for name, _ in REQUIREMENT.findall(text)}
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    wanted = [*pyproject["project"]["dependencies"], *extras["server"], *extras["tracking"]]
    wanted += pyproject["build-system"]["requires"]
    names = {requirement_name(requirement).lower().replace("_", "-") for requirement in wanted}
    assert {"boto3", "botocore", "mlflow", "psycopg", "setuptools"} <= locked
    assert names - locked == set()


@pytest.mark.slow
def test_the_dockerfiles_install_resolves_with_every_hash_required(project: Path, tmp_path: Path) -> None:
    """What the Dockerfile's RUN line installs, resolved for its Python on linux x86_64 (uv, PyPI), hashes required
    as pip requires them once any requirement has one."""
    dockerfile = (project / "deploy" / "tracking" / "Dockerfile").read_text()
    found = re.search(r"^FROM python:(\d+\.\d+)-slim", dockerfile, re.MULTILINE)
    assert found is not None, "a `FROM python:<major.minor>-slim` line in the Dockerfile"
    version = found[1]
    dependencies, _ = pip_installs(dockerfile)
    files, names = requirements_of(dependencies)
    command = ["uv", "pip", "install", "--dry-run", "--require-hashes", "--no-deps", "--python-version", version]
    command += ["--python-platform", "x86_64-manylinux_2_28", "--target", str(tmp_path / "target")]
    command += [argument for file in files for argument in ("-r", file)] + names
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^ \+ boto3==", done.stderr + done.stdout, re.MULTILINE), done.stderr[-2000:]


@pytest.mark.slow
def test_an_unhashed_extra_requirement_is_refused(project: Path, tmp_path: Path) -> None:
    # guards the test above: the install issue 21 found (the lock plus a bare `boto3`) does not resolve
    command = ["uv", "pip", "install", "--dry-run", "--require-hashes", "--no-deps", "--python-version", "3.11"]
    command += ["--target", str(tmp_path / "target"), "-r", "requirements.lock", "boto3"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode != 0 and "boto3" in done.stderr, done.stderr[-2000:]
