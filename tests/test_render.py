"""Rendering over the option matrix: exact files, no leftover Jinja, everything parses, ruff is clean.

Every combination of task x training runner x DVC remote is rendered; the remaining answers (Python version,
license) rotate through their choices so that each value appears (cookiecutter-data-science's approach).
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .matrix import render_combinations
from .projects import DEFAULTS

LEFTOVER_JINJA = re.compile(r"(?<!\$)\{\{|\{%|%\}")
LOCAL_CACHES = {"__pycache__", ".ruff_cache", ".pytest_cache"}  # left by tools run in a working copy, never shipped
TEXT_SUFFIXES = {".py", ".toml", ".yaml", ".yml", ".json", ".md", ".cfg", ".txt", ".lock", ".ipynb", ".css", ""}
ALWAYS = {
    ".cookiecutter.json",
    ".cruft.json",
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "LICENSE",
    "Makefile",
    "README.md",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    "requirements.lock",
    "data/external/.gitkeep",
    "gx/.gitignore",
    "gx/great_expectations.yml",
    "gx/expectations/raw_data.json",
    "gx/checkpoints/raw_data.json",
    "gx/validation_definitions/raw_data.json",
    "src/{pkg}/__init__.py",
    "src/{pkg}/__main__.py",
    "src/{pkg}/core/config.py",
    "src/{pkg}/core/metrics.py",
    "src/{pkg}/core/reports.py",
    "src/{pkg}/training/features.py",
    "src/{pkg}/training/models.py",
    "src/{pkg}/training/search.py",
    "src/{pkg}/tracking/runs.py",
    "src/{pkg}/stages/files.py",
    "src/{pkg}/stages/ingest.py",
    "src/{pkg}/stages/validate.py",
    "src/{pkg}/stages/prepare.py",
    "src/{pkg}/stages/train.py",
    "src/{pkg}/stages/evaluate.py",
    "src/{pkg}/stages/register.py",
    "tests/conftest.py",
    "tests/fixtures/customers.csv",
}


COMBINATIONS = render_combinations()


def ids(combo: dict[str, str]) -> str:
    return "-".join(combo.values())


def template_files(combo: dict[str, str], package: str) -> set[str]:
    """What the template folder holds for this combination, after the post-generation hook's pruning."""
    root = Path(__file__).resolve().parents[1] / "{{cookiecutter.project_slug}}"
    expected = set()
    for path in root.rglob("*"):
        if not path.is_file() or LOCAL_CACHES & set(path.parts):
            continue
        rel = path.relative_to(root).as_posix().replace("{{cookiecutter.package_name}}", package)
        if "/_variants/" in rel:
            variant, _, name = rel.partition("/_variants/")[2].partition("/")
            if variant != combo["task"]:
                continue
            rel = f"{rel.partition('/_variants/')[0]}/{name}"
        if rel.startswith("_locks/"):
            if (
                rel
                == f"_locks/{'gpu' if combo['training_runner'] == 'self-hosted-gpu' else 'cpu'}-{combo['dvc_remote']}.lock"
            ):
                expected.add("requirements.lock")
            continue
        expected.add(rel)
    return expected | {".cookiecutter.json", ".cruft.json"}  # written by the post-generation hook


def files_of(project: Path) -> set[str]:
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and not ({".git"} | LOCAL_CACHES) & set(p.parts)
    }


@pytest.mark.parametrize("combo", COMBINATIONS, ids=ids)
def test_exact_file_set(rendered: Callable[..., Path], combo: dict[str, str]) -> None:
    project = rendered(**combo)
    found = files_of(project)
    assert found == template_files(combo, "my_mlops_project")
    assert {f.format(pkg="my_mlops_project") for f in ALWAYS} <= found
    assert not [f for f in found if "_variants" in f or "_locks" in f]


@pytest.mark.parametrize("combo", COMBINATIONS, ids=ids)
def test_everything_renders_and_parses(rendered: Callable[..., Path], combo: dict[str, str]) -> None:
    project = rendered(**combo)
    for path in project.rglob("*"):
        if not path.is_file() or ({".git"} | LOCAL_CACHES) & set(path.parts) or path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text()
        if any(path.relative_to(project).as_posix().startswith(raw) for raw in DEFAULTS["_copy_without_render"]):
            continue  # third-party files copied verbatim (vendored web assets): their braces are not Jinja
        assert not LEFTOVER_JINJA.search(text), f"leftover Jinja in {path.relative_to(project)}"
        if path.suffix == ".py":
            ast.parse(text, filename=str(path))
        elif path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(text))
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix in (".json", ".ipynb"):
            json.loads(text)


@pytest.mark.parametrize("combo", COMBINATIONS, ids=ids)
def test_ruff_is_clean(rendered: Callable[..., Path], combo: dict[str, str]) -> None:
    project = rendered(**combo)
    for command in (["ruff", "check", "--no-cache", "."], ["ruff", "format", "--check", "--no-cache", "."]):
        done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("combo", COMBINATIONS, ids=ids)
def test_answers_reach_the_project(rendered: Callable[..., Path], combo: dict[str, str]) -> None:
    project = rendered(**combo)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["task"] == combo["task"]
    dvc = configparser.ConfigParser()
    dvc.read(project / ".dvc" / "config")
    assert dvc["core"]["analytics"] == "false" and dvc["core"]["check_update"] == "false"
    remote = dvc["'remote \"storage\"'"]["url"]
    assert remote.startswith(
        {"local": "../../", "s3": "s3://", "gs": "gs://", "azure": "azure://"}[combo["dvc_remote"]]
    )
    lock = (project / "requirements.lock").read_text()
    assert ("\nxgboost==" in lock) is (combo["training_runner"] == "self-hosted-gpu")
    for remote in ("s3", "gs", "azure"):
        assert (f"\ndvc-{remote}==" in lock) is (combo["dvc_remote"] == remote)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={combo['python_version']}"
    assert json.loads((project / ".cookiecutter.json").read_text())["task"] == combo["task"]


@pytest.mark.parametrize("combo", COMBINATIONS[:2], ids=ids)
def test_the_project_is_committed_and_clean(rendered: Callable[..., Path], combo: dict[str, str]) -> None:
    project = rendered(**combo)
    log = subprocess.run(["git", "log", "--oneline"], cwd=project, capture_output=True, text=True, check=True).stdout
    assert len(log.splitlines()) == 1
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True)
    assert status.stdout == ""


@pytest.mark.parametrize("combo", COMBINATIONS[:1], ids=ids)
def test_every_phony_target_has_a_recipe(rendered: Callable[..., Path], combo: dict[str, str]) -> None:
    """A `.PHONY` name without a recipe makes `make <name>` print "Nothing to be done" and exit 0: a silent no-op."""
    makefile = (rendered(**combo) / "Makefile").read_text()
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", makefile, re.MULTILINE) for name in line.split()}
    with_recipe = set(re.findall(r"^([A-Za-z0-9_-]+):(?!=).*\n(?:#.*\n)*\t", makefile, re.MULTILINE))
    assert phony, "no .PHONY targets found"
    assert phony <= with_recipe, f"phony targets without a recipe: {sorted(phony - with_recipe)}"
