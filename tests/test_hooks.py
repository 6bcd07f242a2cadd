"""The pre-generation hook: every bad answer is reported on its own line and nothing is written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from cookiecutter.exceptions import FailedHookException

from .projects import TEMPLATE, bake


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pre_gen_project", TEMPLATE / "hooks" / "pre_gen_project.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = load_hook()


def answers(**changes: str) -> dict[str, str]:
    """The defaults as cookiecutter renders them, with ``changes``."""
    base = {
        "project_name": "My MLOps Project",
        "project_slug": "my-mlops-project",
        "package_name": "my_mlops_project",
        "description": "A model.",
        "author_name": "Ada Lovelace",
        "author_email": "ada@example.com",
        "github_owner": "acme-ml",
        "python_version": "3.11",
        "task": "classification",
        "training_runner": "self-hosted-cpu",
        "runner_labels": "self-hosted, linux, x64, cpu, trusted",
        "pr_runner_labels": "self-hosted, linux, x64, cpu, pr",
        "arc_runner_image": "ghcr.io/actions/actions-runner:2.336.0@sha256:" + "0" * 64,
        "mlflow_tracking_uri": "sqlite:///mlflow.db",
        "dvc_remote": "local",
        "dvc_remote_url": "../my-mlops-project-dvc-remote",
        "serving_db_url": "sqlite:///serving.db",
        "license": "MIT",
    }
    return base | changes


def test_the_defaults_are_valid() -> None:
    assert HOOK.validate(answers()) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"package_name": "class"}, "package_name: 'class' is a Python keyword"),
        ({"package_name": "2fast"}, "package_name: '2fast' is not a valid Python identifier"),
        ({"package_name": "my-pkg"}, "not a valid Python identifier"),
        ({"package_name": "json"}, "would shadow the standard-library module"),
        ({"package_name": "MyPkg"}, "must be lowercase"),
        ({"project_slug": "My Project"}, "project_slug: 'My Project' is not a valid folder"),
        ({"project_slug": "../escape"}, "project_slug: '../escape' is not a valid folder"),
        ({"project_slug": "-dash"}, "project_slug: '-dash'"),
        ({"project_name": "  "}, "project_name: must not be empty"),
        ({"project_name": "two\nlines"}, "contains a control character"),
        ({"author_email": "not-an-email"}, "author_email"),
        ({"github_owner": "-bad-"}, "github_owner: '-bad-' is not a valid GitHub"),
        ({"python_version": "2.7"}, "python_version: '2.7' is not one of 3.11, 3.12, 3.13"),
        ({"task": "clustering"}, "task: 'clustering' is not one of"),
        ({"runner_labels": "linux, gpu"}, "must include 'self-hosted'"),
        ({"runner_labels": "self-hosted, bad label"}, "runner_labels: 'bad label' is not a valid runner label"),
        ({"runner_labels": "self-hosted, gpu, gpu"}, "repeats a label"),
        (
            {"training_runner": "github-hosted", "runner_labels": "self-hosted"},
            "must be one GitHub-hosted runner image",
        ),
        ({"pr_runner_labels": "linux, pr"}, "pr_runner_labels: 'linux, pr' must include 'self-hosted'"),
        (
            {"pr_runner_labels": "self-hosted, linux, x64, cpu"},
            "pr_runner_labels: 'self-hosted, linux, x64, cpu' has no label",
        ),
        (
            {"runner_labels": "self-hosted, cpu", "pr_runner_labels": "self-hosted, x64, cpu, pr"},
            "runner_labels: 'self-hosted, cpu' has no label",
        ),
        (
            {"runner_labels": "self-hosted, linux, cpu", "pr_runner_labels": "self-hosted, x64, cpu"},
            "so pull-request jobs could run",
        ),
        (
            {"arc_runner_image": "ghcr.io/actions/actions-runner:latest"},
            "arc_runner_image: 'ghcr.io/actions/actions-runner:latest' must be pinned by digest",
        ),
        ({"arc_runner_image": "ghcr.io/actions/actions-runner@sha256:abc"}, "must be pinned by digest"),
        ({"mlflow_tracking_uri": "ftp://x"}, "mlflow_tracking_uri: 'ftp://x' must start with"),
        ({"mlflow_tracking_uri": "http://"}, "has no host"),
        ({"mlflow_tracking_uri": "sqlite://relative.db"}, "must look like sqlite:///"),
        ({"dvc_remote": "s3", "dvc_remote_url": "gs://bucket/x"}, "must look like s3://bucket/path"),
        ({"dvc_remote": "local", "dvc_remote_url": "s3://bucket"}, "must be a plain folder path"),
        ({"dvc_remote": "hdfs"}, "dvc_remote: 'hdfs' is not one of"),
        ({"serving_db_url": "not a url"}, "serving_db_url: 'not a url' is not an SQLAlchemy URL"),
        ({"serving_db_url": "postgresql+psycopg:///db"}, "has no database host"),
        ({"license": "WTFPL"}, "license: 'WTFPL' is not one of"),
    ],
)
def test_each_bad_answer_is_named(changes: dict[str, str], problem: str) -> None:
    problems = HOOK.validate(answers(**changes))
    assert any(problem in line for line in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    problems = HOOK.validate(answers(package_name="def", project_slug="Bad Slug", task="x"))
    assert len(problems) == 3


@pytest.mark.parametrize(
    "changes",
    [
        {"package_name": "class"},
        {"project_slug": "../../outside"},
        {"mlflow_tracking_uri": "sqlite:///x.db; rm -rf /"},
    ],
)
def test_a_bad_answer_stops_before_anything_is_written(
    tmp_path: Path, changes: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FailedHookException):
        bake(out, **changes)
    assert list(out.iterdir()) == []
    assert not (tmp_path.parent / "outside").exists()
    assert "Nothing was generated" in capfd.readouterr().err


HOSTILE = [
    'Robert"); import os; os.system("touch pwned"); ("',
    'It\'s a "quoted" name with \'\'\'triple\'\'\' and """docstring""" quotes \\ and a backslash',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_data(tmp_path: Path, text: str) -> None:
    import ast
    import tomllib

    import yaml

    project = bake(
        tmp_path,
        project_name=text,
        description=text + "\nsecond line",
        author_name=text,
        project_slug="safe",
        package_name="safe",
    )
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == text + "\nsecond line"
    assert pyproject["project"]["authors"][0]["name"] == text
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    assert yaml.safe_load((project / "params.yaml").read_text())["tracking"]["experiment"] == "safe"
    assert json.loads((project / ".cookiecutter.json").read_text())["project_name"] == text
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_without_git_the_project_is_still_made_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    project = bake(tmp_path / "out")
    assert (project / "dvc.yaml").exists()
    assert not (project / ".git").exists()
    err = capfd.readouterr().err
    assert "git was not found on PATH" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("changes", "answer", "instead"),
    [
        (
            {"mlflow_tracking_uri": "https://ci:s3cr3t-pw@mlflow.example.com"},
            "mlflow_tracking_uri",
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
        ),
        (
            {"mlflow_tracking_uri": "postgresql://mlflow:s3cr3t-pw@db.example.com/mlflow"},
            "mlflow_tracking_uri",
            "MLFLOW_TRACKING_URI",
        ),
        (
            {"serving_db_url": "postgresql+psycopg://serving:s3cr3t-pw@db.example.com:5432/serving"},
            "serving_db_url",
            "SERVING_DB_URL",
        ),
        ({"serving_db_url": "mysql://db.example.com/serving?password=s3cr3t-pw"}, "serving_db_url", "SERVING_DB_URL"),
        (
            {"dvc_remote": "s3", "dvc_remote_url": "s3://AKIAEXAMPLE:s3cr3t-pw@my-bucket/project"},
            "dvc_remote_url",
            "dvc remote modify --local storage",
        ),
        (
            {"dvc_remote": "azure", "dvc_remote_url": "azure://container/path?sig=s3cr3t-pw"},
            "dvc_remote_url",
            "dvc remote modify --local storage",
        ),
    ],
)
def test_a_password_in_a_url_answer_is_refused_without_echoing_it(
    changes: dict[str, str], answer: str, instead: str
) -> None:
    problems = HOOK.validate(answers(**changes))
    # one line, naming the answer and where the secret goes instead, and not repeating the secret
    assert len(problems) == 1, problems
    (line,) = problems
    assert line.startswith(f"{answer}: ") and "carries a password" in line and instead in line
    assert "s3cr3t-pw" not in line and "***" in line


def test_a_user_name_alone_in_a_url_is_no_secret() -> None:
    assert HOOK.validate(answers(mlflow_tracking_uri="https://ci-bot@mlflow.example.com")) == []


def test_a_password_answer_writes_nothing_and_leaves_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given cookiecutter's replay folder in a place of our own (it saves the answers before the hook runs)
    replay = tmp_path / "replay"
    config = tmp_path / "cookiecutterrc.yaml"
    config.write_text(f"replay_dir: {replay}\ncookiecutters_dir: {tmp_path / 'templates'}\n")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))
    out = tmp_path / "out"
    out.mkdir()
    # When a project is baked with a password in the tracking URI
    with pytest.raises(FailedHookException):
        bake(out, mlflow_tracking_uri="https://ci:s3cr3t-pw@mlflow.example.com")
    # Then nothing is written, the error names the variables to use, and no file keeps the password
    assert list(out.iterdir()) == []
    err = capfd.readouterr().err
    assert "MLFLOW_TRACKING_PASSWORD" in err and "Nothing was generated" in err and "s3cr3t-pw" not in err
    (saved,) = replay.glob("*.json")
    assert "s3cr3t-pw" not in saved.read_text()
    assert json.loads(saved.read_text())["cookiecutter"]["mlflow_tracking_uri"] == "https://ci:***@mlflow.example.com"
