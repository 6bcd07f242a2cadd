"""Helpers the template's tests share: bake a project, run its commands as a user's shell would, serve it, read its
registry. A plain module (no tests, no fixtures): test modules import from here, never from each other."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

from tools import servers
from tools.environment import project_env as project_env  # re-exported: the tests take it from here

TEMPLATE = Path(__file__).resolve().parents[1]
DEFAULTS: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text())
free_port = servers.free_port
KUBERNETES = "1.33.0"  # a version the manifests must hold for; strict schemas ship with kubernetes-validate

# Runs in a default project's Python: the registry's versions and aliases, and the experiment's runs.
REGISTRY = """
import json, mlflow
from mlflow.tracking import MlflowClient
from my_mlops_project.core import config
from my_mlops_project.tracking import registry, runs
cfg = config.load()
client = runs.configure(cfg.tracking)
name = cfg.tracking.model_name
alias = lambda a: (lambda v: int(v.version) if v else None)(registry.version_by_alias(client, name, a))
found = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
print(json.dumps({
    "versions": sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'")),
    "champion": alias("champion"), "challenger": alias("challenger"),
    "runs": len(found), "child_runs": sum(1 for r in found if "mlflow.parentRunId" in r.data.tags),
}))
"""


def bake(output_dir: Path, **answers: str) -> Path:
    """Render the template with ``answers`` over the defaults; returns the project folder."""
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


def run(
    command: Sequence[str], cwd: Path, *, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``; on an unexpected exit, fail with the output's tail."""
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=env or project_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
        )
    return done


def setup_project(project: Path) -> Path:
    run(["make", "setup"], project, timeout=1200)
    return project


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    """POST ``body``; the status and the decoded JSON answer (also of a 4xx)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def serving(
    command: Sequence[str],
    cwd: Path,
    ready_url: str,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
    timeout: float = 240,
) -> Iterator[subprocess.Popen[bytes]]:
    """A project's server command (`make serve`, `make ui`, ...) with the project's environment, once it answers
    ``ready_url``; stopped with ``stop`` to its whole process group afterwards (tools.servers.serving)."""
    with servers.serving(command, cwd, ready_url, log, env=env or project_env(cwd), stop=stop, timeout=timeout) as p:
        yield p


def registry(project: Path) -> dict[str, Any]:
    """The default project's registry: versions, the champion and challenger versions, runs and child runs."""
    state: dict[str, Any] = json.loads(
        run([".venv/bin/python", "-c", REGISTRY], project).stdout.strip().splitlines()[-1]
    )
    return state


def edit_params(project: Path, change: Callable[[dict[str, Any]], object]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    change(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def short_auto_search(project: Path, seconds: int = 20) -> None:
    """After `make data` (which writes `strategy: auto` with params.yaml's 600 s budget): a budget of ``seconds``,
    edited as text so the roles' comments stay. The auto search always finishes its first trial's first rung, so
    the pipeline still trains; the tests that use it check the plumbing, not the search (benchmarks/automl.py)."""
    params = project / "params.yaml"
    text, count = re.subn(r"(?m)^(    max_seconds: )\d+(\.\d+)?", rf"\g<1>{seconds}", params.read_text())
    assert count == 1, "one train.search.max_seconds line in params.yaml"
    params.write_text(text)


def lean_search(params: dict[str, Any]) -> None:
    """One quick candidate (a logistic regression, 3 folds): for runs that exercise the plumbing, not the search."""
    params["train"]["cv_folds"] = 3
    params["train"]["search"]["candidates"] = [{"family": "logistic_regression", "params": {"C": [1.0]}}]
