"""Facts written in two places because one file cannot read the other, checked equal (fast).

- Ruff's rules: the template's ruff.toml (hooks, tests, benchmarks, tools) and the generated project's pyproject
  (`[tool.ruff.lint]`). The pyproject is Jinja (its target version is an answer), so neither can `extend` the other.
- The telemetry-off variables: their source is ``QUIET`` in the generated package's environment module (the
  project's entry points apply it; the template's tests and benchmarks read it through tools/environment.py); the
  template's Makefile and the generated Makefile export them for every command they run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from tools.environment import QUIET, project_env

from .projects import DEFAULTS, TEMPLATE

EXPORT = re.compile(r"^export ([A-Z_]+) := (.*)$", re.MULTILINE)
TELEMETRY_NAME = re.compile(r"TELEMETRY|TRACK|ANALYTICS")


def telemetry_exports(makefile: Path) -> dict[str, str]:
    """The variables a Makefile exports that are QUIET's, or that look like a telemetry switch."""
    return {
        name: value.strip()
        for name, value in EXPORT.findall(makefile.read_text())
        if name in QUIET or TELEMETRY_NAME.search(name)
    }


def test_the_template_lints_with_the_generated_projects_rules(rendered: Callable[..., Path]) -> None:
    template = tomllib.loads((TEMPLATE / "ruff.toml").read_text())
    project = tomllib.loads((rendered() / "pyproject.toml").read_text())["tool"]["ruff"]
    assert template["lint"]["select"] == project["lint"]["select"]
    assert template["lint"]["ignore"] == project["lint"]["ignore"]
    assert template["line-length"] == project["line-length"]
    oldest = min(DEFAULTS["python_version"], key=lambda v: tuple(map(int, v.split("."))))
    assert template["target-version"] == f"py{oldest.replace('.', '')}"


def test_the_tests_and_benchmarks_run_project_commands_with_every_switch(tmp_path: Path) -> None:
    assert {"MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "EVIDENTLY_DISABLE_TELEMETRY"} <= set(QUIET)
    assert project_env(tmp_path).items() >= QUIET.items()


def test_both_makefiles_export_exactly_the_telemetry_switches(rendered: Callable[..., Path]) -> None:
    assert telemetry_exports(TEMPLATE / "Makefile") == QUIET
    assert telemetry_exports(rendered() / "Makefile") == QUIET


def test_a_missing_or_different_switch_is_caught(tmp_path: Path) -> None:
    makefile = (TEMPLATE / "Makefile").read_text()
    dropped, changed = tmp_path / "dropped.mk", tmp_path / "changed.mk"
    dropped.write_text(makefile.replace("export EVIDENTLY_DISABLE_TELEMETRY := 1\n", ""))
    changed.write_text(makefile.replace("export DO_NOT_TRACK := 1", "export DO_NOT_TRACK := 0"))
    assert telemetry_exports(dropped) == {k: v for k, v in QUIET.items() if k != "EVIDENTLY_DISABLE_TELEMETRY"}
    assert telemetry_exports(changed)["DO_NOT_TRACK"] == "0"
