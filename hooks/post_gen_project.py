"""Finish the generated project: keep the selected variants, save the answers, make the first commit.

The answers go to ``.cookiecutter.json`` and, when the template is a git checkout, to ``.cruft.json`` with the
template's source and commit, so ``cruft update`` (``make update``) can bring later template changes in. When cruft
itself renders the template (``cruft update`` regenerates the old and new versions to diff them; its context has
``_commit``), cruft owns ``.cruft.json`` and git, so this hook writes neither.

DVC's files (``.dvc/config`` with analytics and update checks off and the default remote, ``.dvcignore``)
ship with the template, so the project is DVC-initialised even where DVC is not installed yet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS = json.loads({{cookiecutter | tojson | tojson}})  # noqa: F821 (cookiecutter renders this line)


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


# cookiecutter's built-in abbreviations, as git URLs cruft can clone
ABBREVIATIONS = {
    "gh:": "https://github.com/{}.git",
    "gl:": "https://gitlab.com/{}.git",
    "bb:": "https://bitbucket.org/{}",
}
REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|git@|(?:gh|gl|bb):)")


def template_origin(template: str, repo_dir: Path) -> dict[str, str | None] | None:
    """Where cruft finds this template again: source (git URL, or the local clone's path), commit, sub-directory.

    None when the template is not a git checkout (a zip, a plain folder): then there is no commit to update from.
    """
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=repo_dir, capture_output=True, text=True, check=True
        )
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    toplevel = Path(top.stdout.strip()).resolve()
    inner = repo_dir.resolve().relative_to(toplevel).as_posix()
    source = template.removeprefix("git+")
    for prefix, url in ABBREVIATIONS.items():
        if source.startswith(prefix):
            source = url.format(source.removeprefix(prefix))
    if not REMOTE.match(source):
        source = str(toplevel)
    return {"template": source, "commit": head.stdout.strip(), "directory": None if inner == "." else inner}


def template_folder(repo_dir: str) -> Path | None:
    """The template's folder. cookiecutter passes it as typed (``cookiecutter .``): a relative one is resolved
    against the shell's PWD, else against cookiecutter's own working directory, which is the template folder
    while it runs hooks; a candidate counts only if it holds this template's cookiecutter.json."""
    given = Path(repo_dir)
    candidates = [given] if given.is_absolute() else [Path(os.environ.get("PWD", "/nonexistent")) / given]
    candidates.append(Path(f"/proc/{os.getppid()}/cwd"))
    return next(
        (c.resolve() for c in candidates if (c / "cookiecutter.json").is_file() and (c / "hooks").is_dir()), None
    )


def save_cruft_state(project: Path) -> None:
    """.cruft.json as `cruft create` writes it, so `cruft update` / `cruft check` work on a cookiecutter bake."""
    folder = template_folder(ANSWERS.get("_repo_dir") or ".")
    origin = template_origin(ANSWERS.get("_template", ""), folder) if folder else None
    if origin is None:
        print(
            "WARNING: the template is not a git checkout, so .cruft.json was not written and `make update` cannot "
            "bring template changes in; link the project later with: cruft link <template git URL>",
            file=sys.stderr,
        )
        return
    context = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    context |= {"_template": origin["template"], "_commit": origin["commit"]}
    state = {
        "template": origin["template"],
        "commit": origin["commit"],
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": origin["directory"],
    }
    (project / ".cruft.json").write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")


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
    if "_commit" in ANSWERS:  # cruft is rendering the template: it keeps .cruft.json and the repository itself
        return
    save_cruft_state(project)
    first_commit(project)


if __name__ == "__main__":
    main()
