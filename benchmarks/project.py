"""A baked, set-up project as the benchmarks drive it: its interpreter, package and environment, and the scripts of
benchmarks/in_project/ run in its own Python (they import the project's package and its dependencies)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.environment import project_env

TEMPLATE = Path(__file__).resolve().parents[1]
IN_PROJECT = Path(__file__).with_name("in_project")


@dataclass(frozen=True)
class Project:
    """``root``: the project folder; ``python``: the interpreter that has its package (default: its .venv's)."""

    root: Path
    python: Path

    @classmethod
    def at(cls, root: Path, python: Path | None = None) -> Project:
        root = root.resolve()
        return cls(root, python or root / ".venv" / "bin" / "python")

    @property
    def package(self) -> str:
        return next(p.name for p in sorted((self.root / "src").iterdir()) if (p / "__main__.py").exists())

    def env(self, **extra: str) -> dict[str, str]:
        """As `make` runs the project's commands (tools.environment.project_env), this interpreter's folder first on
        PATH, plus ``extra``."""
        env = project_env(self.root)
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env['PATH']}"
        return env | extra

    def script(self, name: str, *args: str, env: dict[str, str] | None = None) -> str:
        """Run benchmarks/in_project/<name>.py in the project's Python (in its folder); its last line of output."""
        command = [str(self.python), str(IN_PROJECT / f"{name}.py"), *args]
        done = subprocess.run(
            command, cwd=self.root, env=env or self.env(), capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise SystemExit(f"{name}.py failed in {self.root}:\n{done.stderr[-3000:]}")
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def bake(out: Path, *answers: str) -> Path:
    """The template baked into ``out`` (cookiecutter's `key=value` answers over the defaults); the project folder."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out), *answers]
    subprocess.run(command, check=True, capture_output=True, env=project_env(out))
    return next(p for p in out.iterdir() if (p / ".cookiecutter.json").exists())


def bake_and_set_up(prefix: str, *answers: str, pipeline: bool = False) -> Path:
    """A fresh project in a temporary folder, `make setup` (and `make pipeline`) run: minutes."""
    project = bake(Path(tempfile.mkdtemp(prefix=prefix)), *answers)
    targets = ["setup", "pipeline"] if pipeline else ["setup"]
    subprocess.run(["make", *targets], cwd=project, check=True, capture_output=True, env=project_env(project))
    return project


def wall_and_peak_rss(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one command: the largest of it and the processes it waited for
    (os.wait4's usage of the child, so nothing run before it counts); its output is discarded."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def load_average() -> str:
    """The machine's load average (1, 5, 15 min), as the tables print it."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())
