"""Template updates reach existing projects: a bake records its template and commit in .cruft.json, and
`make update` (cruft update) brings a later template commit in without touching the user's own edits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .projects import TEMPLATE

pytestmark = pytest.mark.slow
VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def template_repository(target: Path) -> Path:
    """The template's working tree (committed and new files, as the tests see them) as a fresh git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = TEMPLATE / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "template A")
    return target


def make(project: Path, target: str) -> subprocess.CompletedProcess[str]:
    """A project's make target with the template's venv (which has cruft) on PATH, as a set-up project has it."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    return subprocess.run(["make", target], cwd=project, env=env, capture_output=True, text=True, check=False)


def bake_from(template: Path, out: Path) -> Path:
    done = subprocess.run(
        [str(VENV_BIN / "cookiecutter"), "--no-input", str(template), "-o", str(out), "project_name=Churn Model"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out / "churn-model"


def test_a_later_template_commit_reaches_the_project_and_the_users_edits_stay(tmp_path: Path) -> None:
    # Given a project baked from the template at commit A
    template = template_repository(tmp_path / "template")
    commit_a = git(template, "rev-parse", "HEAD")
    project = bake_from(template, tmp_path / "baked")
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"], state["directory"]) == (str(template.resolve()), commit_a, None)
    assert state["context"]["cookiecutter"]["project_name"] == "Churn Model"
    assert make(project, "update-check").returncode == 0
    # and the user's own work in it, committed
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## Quick start", "Our team's note.\n\n## Quick start", 1))
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("cv_folds: 5", "cv_folds: 7", 1))
    (project / "src" / "churn_model" / "ours.py").write_text('"""Our own module."""\n')
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our edits")
    # When the template changes in a later commit B (a README section, a new doc page, a Makefile line)
    slug = template / "{{cookiecutter.project_slug}}"
    (slug / "README.md").write_text((slug / "README.md").read_text() + "\n## Added by the template\n\nNew section.\n")
    (slug / "docs" / "added.md").write_text("# A page the template added\n")
    makefile = (slug / "Makefile").read_text()
    (slug / "Makefile").write_text(makefile.replace("\ncomma := ,", "\n# template B was here\ncomma := ,", 1))
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "template B")
    commit_b = git(template, "rev-parse", "HEAD")
    assert make(project, "update-check").returncode != 0  # the advisory CI step says the project is behind
    # and the project runs `make update`
    done = make(project, "update")
    assert done.returncode == 0, done.stdout + done.stderr
    # Then the template's change is in, the user's edits are untouched, and nothing conflicted
    text = readme.read_text()
    assert "## Added by the template" in text and "Our team's note." in text
    assert (project / "docs" / "added.md").read_text() == "# A page the template added\n"
    assert "# template B was here" in (project / "Makefile").read_text()
    assert "cv_folds: 7" in params.read_text()
    assert (project / "src" / "churn_model" / "ours.py").read_text() == '"""Our own module."""\n'
    assert not list(project.rglob("*.rej"))
    assert json.loads((project / ".cruft.json").read_text())["commit"] == commit_b
    changed = git(project, "status", "--porcelain")
    assert "README.md" in changed and "docs/added.md" in changed and "params.yaml" not in changed
    assert make(project, "update-check").returncode == 0
