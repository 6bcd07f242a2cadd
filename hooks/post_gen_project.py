"""Finish the generated project: keep the selected variants, save the answers, make the first commit.

DVC's files (``.dvc/config`` with analytics and update checks off and the default remote, ``.dvcignore``)
ship with the template, so the project is DVC-initialised even where DVC is not installed yet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS = json.loads({{ cookiecutter | tojson | tojson }})  # noqa: F821 (cookiecutter renders this line)


def keep_variant(folder: Path, chosen: str) -> None:
    """Move ``folder/<chosen>/*`` up into ``folder`` and delete every other variant."""
    variants = folder / "_variants"
    for item in (variants / chosen).iterdir():
        shutil.move(str(item), folder / item.name)
    shutil.rmtree(variants)


def keep_lock(project: Path, runner: str, remote: str) -> None:
    """One lock per runner kind and DVC remote (make lock in the template writes them all): GPU projects lock
    XGBoost in, cloud remotes their DVC plugin; CPU projects with a local remote stay light."""
    locks = project / "_locks"
    kind = "gpu" if runner == "self-hosted-gpu" else "cpu"
    (locks / f"{kind}-{remote}.lock").replace(project / "requirements.lock")
    shutil.rmtree(locks)


def save_answers(project: Path) -> None:
    answers = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    answers["_template"] = ANSWERS.get("_template", "")
    (project / ".cookiecutter.json").write_text(json.dumps(answers, indent=2, ensure_ascii=False) + "\n")


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True)


def first_commit(project: Path) -> None:
    if shutil.which("git") is None:
        print(
            "WARNING: git was not found on PATH, so the project is not a git repository yet. "
            "Install git, then run: git init -b main && git add -A && git commit -m 'Initial commit'",
            file=sys.stderr,
        )
        return
    identity = ["-c", f"user.name={ANSWERS['author_name']}", "-c", f"user.email={ANSWERS['author_email']}"]
    try:
        git(project, "init", "-q", "-b", "main")
        git(project, "add", "-A")
        git(project, *identity, "commit", "-q", "--no-verify", "-m", "Initial commit from cookiecutter-mlops")
    except subprocess.CalledProcessError as error:
        print(f"WARNING: git {' '.join(error.cmd[1:3])} failed: {error.stderr.strip()}", file=sys.stderr)


def main() -> None:
    project = Path.cwd()
    keep_variant(project / "gx" / "expectations", ANSWERS["task"])
    keep_lock(project, ANSWERS["training_runner"], ANSWERS["dvc_remote"])
    save_answers(project)
    first_commit(project)


if __name__ == "__main__":
    main()
