"""The environment the template's tests and benchmarks give a project's commands: as a user's shell has it, the
project's .venv first on PATH, and telemetry off.

The telemetry-off variables are read from their one source: ``QUIET`` in the generated project's environment module
(which the project's own entry points apply). The Makefiles (the template's and the generated one) export them too;
a fast test (tests/test_one_source.py) checks that both export exactly these values.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1] / "{{cookiecutter.project_slug}}"


def environment_module() -> Path:
    """The generated package's environment.py, wherever the package keeps it (src/<package>/ or a subpackage)."""
    found = sorted(PROJECT.glob("src/*/**/environment.py"))
    if len(found) != 1:
        raise LookupError(f"expected one environment.py under {PROJECT / 'src'}, found {found}")
    return found[0]


def quiet_variables(module: Path | None = None) -> dict[str, str]:
    """The module's ``QUIET = {...}`` mapping, read without importing it (it is Jinja-rendered source)."""
    path = module or environment_module()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["QUIET"]:
            value = ast.literal_eval(node.value)
            if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                return value
            raise TypeError(f"{path}: QUIET is not a mapping of names to strings")
    raise LookupError(f"{path} assigns no QUIET mapping")


QUIET = quiet_variables()

# Ours, not a user's: a virtual environment, a tracking URI or import path of the caller, and the state of an outer
# `make` (a nested make would print "make[2]: Entering/Leaving directory" around every command's output).
OUTER = ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH", "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")


def project_env(project: Path) -> dict[str, str]:
    """The environment `make` gives the project's commands: its .venv first on PATH, telemetry off, and Python's
    output unbuffered (a server's log holds each line as it is written)."""
    env = {k: v for k, v in os.environ.items() if k not in OUTER}
    env["PATH"] = f"{project / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env | QUIET | {"PYTHONUNBUFFERED": "1"}
