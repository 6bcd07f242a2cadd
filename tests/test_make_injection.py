"""No value from outside the generated Makefile becomes make or shell syntax (issue 21, finding 2).

GNU make expands `$(...)` inside a variable's value whenever it expands the variable: monitor.yml handed its
`since` input to make as SINCE, and `$(if $(SINCE),...)` ran the `$(shell ...)` it held, on the trusted pool. The
generated Makefile reads every such value only as "$$NAME" in its recipes' shell.

The variables come from the baked workflows themselves, for every option combination: each `make <target>` a job
runs, with every variable that job hands it (env: of the workflow, the job and the step, the setup action's own
steps, `NAME=value` on the command line). Each is set to hostile values at once, each value naming its own marker
file, and nothing may create one: `make -n <target>` (make expands every recipe line to print it), then a real run
where the programs the recipes call (python, dvc, gh, docker, ...) are stand-ins that record their arguments, so
the shell's side is exercised too and a value must arrive as one whole argument. The second sweep sets every
variable the Makefile exports (what a user may set) against every target of the default project.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .matrix import combo_id
from .matrix import workflow_combinations as combinations
from .projects import bake, project_env

# Values that break out at each layer: make's $(...), the shell's substitutions, quoting, a second line
PAYLOADS = {
    "make-shell": "$(shell touch {marker})",
    "make-dollar": "$$(touch {marker})",
    "shell-substitution": "$(touch {marker})",
    "backticks": "`touch {marker}`",
    "semicolon": "x;touch {marker}",
    "single-quote": "x';touch {marker};'",
    "double-quote": 'x";touch {marker};"',
    "newline": "x\ntouch {marker}",
}
# Programs the recipes call, replaced by a recorder for the real runs
STUBBED = ("python", "dvc", "bentoml", "docker", "gh", "cruft", "jupyter", "nvidia-smi", "uv", "pytest")
# Targets that build or check the environment itself (a virtualenv, pip, ruff, mypy): make -n only
NOT_RUN = {"setup", "setup-spark", "lint", "format", "test", "test-fast", "lock", "notebook", "clean", "restore"}
# Chosen by whoever runs make, never by a workflow: the interpreter and folder make itself uses (see the Makefile)
OWN_VARIABLES = {"PYTHON", "VENV", "PATH"}
# Lists of arguments (DROP="id other"): split at whitespace by the recipe, each word one argument, never expanded
WORD_LISTS = {"DROP", "REVIEW_ARGS", "UPDATE_ARGS", "NOTEBOOK_ARGS"}
# Each call: the program's name and arguments, NUL-terminated, in a file of its own (serve-demo runs one stand-in
# in the background while others run: appends to one file would interleave), named so they sort in call order
STUB = """#!/bin/bash
mkdir -p "$RECORDED_CALLS"; printf '%s\\0' "${0##*/}" "$@" > "$RECORDED_CALLS/$(date +%s%N)-$$"
"""


@dataclass(frozen=True)
class MakeCall:
    """One `make <target>` a workflow job runs, and the names of the variables it gets from the workflow."""

    where: str
    target: str
    variables: frozenset[str]


def make_targets(command: str) -> list[tuple[str, set[str]]]:
    """The targets of a `make a b X=1` command line and the names it assigns; [] for other commands."""
    words = shlex.split(command)
    if not words or words[0] != "make":
        return []
    assigned = {word.split("=", 1)[0] for word in words[1:] if "=" in word}
    return [(word, assigned) for word in words[1:] if "=" not in word]


def workflow_calls(project: Path) -> set[MakeCall]:
    """Every make call of the project's workflows, the setup action's included, with what each job hands it."""
    action = yaml.safe_load((project / ".github" / "actions" / "setup" / "action.yml").read_text())
    calls = set()
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        for name, job in workflow["jobs"].items():
            job_env = set(workflow.get("env") or {}) | set(job.get("env") or {})
            for step in job.get("steps", []):
                env = job_env | set(step.get("env") or {})
                runs = [(step.get("run", ""), env)]
                if str(step.get("uses", "")).startswith("./.github/actions/setup"):
                    runs = [
                        (inner.get("run", ""), env | set(inner.get("env") or {})) for inner in action["runs"]["steps"]
                    ]
                for command, names in runs:
                    for target, assigned in make_targets(command):
                        calls.add(MakeCall(f"{path.name}:{name}", target, frozenset(names | assigned)))
    return calls


def exported_variables(makefile: str) -> set[str]:
    """What the Makefile exports or defaults with ?=: the variables a user may set."""
    found = set()
    for line in makefile.splitlines():
        if line.startswith("export ") and not re.search(r"[:?+]?=", line):
            found.update(line.split()[1:])
        elif assigned := re.match(r"^(?:export )?([A-Z][A-Z0-9_]*) \?=", line):
            found.add(assigned[1])
    return found - OWN_VARIABLES


def all_targets(makefile: str) -> list[str]:
    return sorted(set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", makefile, re.MULTILINE)))


def hostile_env(project: Path, variables: set[str], payload: str, markers: Path, stubs: Path | None) -> dict[str, str]:
    env = project_env(project)
    for name in variables:
        env[name] = payload.format(marker=markers / name)
    if stubs is not None:
        env["PATH"] = f"{stubs}{os.pathsep}{env['PATH']}"
        env["RECORDED_CALLS"] = str(markers.parent / "calls")
    return env


def write_stubs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in STUBBED:
        stub = folder / name
        stub.write_text(STUB)
        stub.chmod(0o755)
    return folder


def recorded(path: Path) -> list[list[str]]:
    """The stand-ins' calls in the order they started, each [program, *arguments]."""
    if not path.exists():
        return []
    return [
        call.read_text().split("\0")[:-1] for call in sorted(path.iterdir(), key=lambda f: int(f.name.split("-")[0]))
    ]


def findings(project: Path, target: str, variables: set[str], work: Path, *, real: bool) -> list[str]:
    """What went wrong when ``target`` ran (``make -n``, or for real with stand-ins) with every one of
    ``variables`` hostile, once per payload: a marker file created, or a value split across arguments."""
    found = []
    stubs = write_stubs(work / "stubs") if real else None
    for kind, payload in PAYLOADS.items():
        markers = work / kind / "markers"
        markers.mkdir(parents=True)
        env = hostile_env(project, variables, payload, markers, stubs)
        command = ["make", "--no-print-directory", target] if real else ["make", "-n", target]
        subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)
        run = "make" if real else "make -n"
        found += [f"{run} {target}: {m.name}={payload!r} ran a command" for m in sorted(markers.iterdir())]
        for program, *arguments in recorded(markers.parent / "calls"):
            for argument in arguments:
                for name in variables:
                    value = payload.format(marker=markers / name)
                    whole = value.split() if name in WORD_LISTS else [value]
                    if str(markers / name) in argument and not any(word in argument for word in whole):
                        found.append(f"make {target}: {name}={payload!r} reached {program} as {argument!r}")
    return found


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("injection")
    return {combo_id(a): bake(root / combo_id(a), **a).resolve() for a in combinations()}


def unique_calls(projects: dict[str, Path]) -> list[tuple[Path, MakeCall]]:
    """Each (target, variables) pair once, with a project whose workflows make it."""
    seen: dict[tuple[str, frozenset[str]], tuple[Path, MakeCall]] = {}
    for project in projects.values():
        for call in sorted(workflow_calls(project), key=lambda c: (c.where, c.target)):
            seen.setdefault((call.target, call.variables), (project, call))
    return list(seen.values())


def test_the_workflows_hand_make_their_inputs(projects: dict[str, Path]) -> None:
    # guards the sweep below: the calls it checks include the ones issue 21 found
    calls = {(call.where, call.target): call.variables for _, call in unique_calls(projects)}
    assert "SINCE" in calls["monitor.yml:monitor", "monitor"]
    assert {"VERSION", "LATEST", "OWNER"} <= calls["release.yml:image", "image-push"]
    assert "INPUT" in calls["batch.yml:score", "batch"]
    assert "IDENTITY_VARIABLE" in next(v for (w, t), v in calls.items() if t == "identity-missing")
    assert "REVIEW_ARGS" in calls["train.yml:train", "review"]


def test_no_workflow_variable_becomes_make_or_shell_syntax(projects: dict[str, Path], tmp_path: Path) -> None:
    found = []
    for index, (project, call) in enumerate(unique_calls(projects)):
        work = tmp_path / str(index)
        found += [
            f"{call.where}: {f}" for f in findings(project, call.target, set(call.variables), work / "n", real=False)
        ]
        if call.target not in NOT_RUN:
            found += [
                f"{call.where}: {f}" for f in findings(project, call.target, set(call.variables), work / "r", real=True)
            ]
    assert found == []


def test_no_variable_a_user_sets_becomes_make_or_shell_syntax(projects: dict[str, Path], tmp_path: Path) -> None:
    project = projects["self-hosted-cpu-local"]
    makefile = (project / "Makefile").read_text()
    variables = exported_variables(makefile)
    # what the issue names, at least
    assert {
        "SINCE",
        "BATCH_ID",
        "KEY",
        "INPUT",
        "FILE",
        "TARGET",
        "TASK",
        "DROP",
        "ENGINE",
        "SPARK_MASTER",
        "LABELS",
    } <= variables
    assert {
        "VERSION",
        "LATEST",
        "OWNER",
        "REVIEW_ARGS",
        "UPDATE_ARGS",
        "NOTEBOOK",
        "NOTEBOOK_ARGS",
        "PORT",
        "HOST",
    } <= variables
    found = []
    for target in all_targets(makefile):
        found += findings(project, target, variables, tmp_path / target / "n", real=False)
        if target not in NOT_RUN:
            found += findings(project, target, variables, tmp_path / target / "r", real=True)
    assert found == []


def test_a_value_reaches_its_program_whole(projects: dict[str, Path], tmp_path: Path) -> None:
    # Given a window, a batch id, a key column and a table name that a shell would split or run
    project = projects["self-hosted-cpu-local"]
    stubs = write_stubs(tmp_path / "stubs")
    calls = tmp_path / "calls"
    env = project_env(project) | {"PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}", "RECORDED_CALLS": str(calls)}
    env |= {"SINCE": "7d; echo $(id)", "BATCH_ID": "night ly`id`", "INPUT": "data/my table.csv", "KEY": "event id$(id)"}
    # When monitor and batch run
    for target in ("monitor", "batch"):
        subprocess.run(["make", target], cwd=project, env=env, capture_output=True, check=True, timeout=60)
    # Then each program got each value as one argument, unchanged
    monitor, batch = recorded(calls)
    assert monitor[-2:] == ["--since", "7d; echo $(id)"]
    assert batch[batch.index("--input") + 1] == "data/my table.csv"
    assert batch[batch.index("--batch-id") + 1] == "night ly`id`"
    assert batch[batch.index("--key-column") + 1] == "event id$(id)"


def test_the_sweep_catches_make_expanding_a_value(projects: dict[str, Path], tmp_path: Path) -> None:
    # Given the Makefile as it was before issue 21: the window expanded by make, the owner inside $(shell ...)
    project = projects["self-hosted-cpu-local"]
    makefile = project / "Makefile"
    original = makefile.read_text()
    found = re.search(r"^\tpython -m \S+ monitor .*$", original, re.MULTILINE)
    assert found is not None, "a `python -m <package> monitor` recipe line in the Makefile"
    recipe = found[0]
    try:
        makefile.write_text(original.replace(recipe, '\tpython -m pkg monitor $(if $(SINCE),--since "$$SINCE")'))
        # Then the sweep reports SINCE, for make -n and for a real run
        dry = findings(project, "monitor", {"SINCE"}, tmp_path / "n", real=False)
        real = findings(project, "monitor", {"SINCE"}, tmp_path / "r", real=True)
    finally:
        makefile.write_text(original)
    assert any("SINCE='$(shell touch {marker})' ran a command" in f for f in dry), dry
    assert any(f.startswith("make monitor: SINCE=") for f in real), real
