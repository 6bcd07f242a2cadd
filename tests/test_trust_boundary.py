"""The trust boundary of the generated workflows, read from their YAML, for every option combination.

A pull request runs its own copy of the workflow files, so no `if:` in them binds it. What must hold in the files
GitHub runs for main is that nothing main trusts is *named* where a pull request could reach it:

- every job that reads a secret runs in a GitHub environment (main's jobs in `production` / `release`, whose
  deployment-branch policies admit main and v* tags only; pull requests in `pr-review`, with read-only identities);
- no pull-request job asks for a trusted-pool label, reads a write secret or names a write identity, or runs in a
  trusted environment;
- no expression falls back from one credential to another (`vars.REVIEW_ROLE || vars.ROLE`);
- the release version reaches make only through the version job's checked output;
- only release.yml's image job, in `release`, may push packages (`packages: write`); no other job asks for more
  than reading them.

And the docs name what the workflows do: every workflow that runs in an environment is in that environment's row of
docs/ci.md, and every workflow on the trusted pool is in docs/runners.md's pool table and runner-group list.

Each rule is proved by a negative mutation: the weakened workflow must be caught.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .matrix import combo_id, labels_of, workflow_combinations
from .workflow_checks import triggers, zizmor_findings

AUTOMATIC_LABELS = {"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64"}
PR_TRIGGERS = {
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "workflow_run",
}
# What main's jobs hold and a pull request must never name; and the only secrets a pull-request job may name
WRITE_SECRETS = {
    *(
        f"MLFLOW_{user}_{part}"
        for user in ("WRITER", "BATCH", "MONITOR", "RELEASE")
        for part in ("USERNAME", "PASSWORD")
    ),
    "SERVING_DB_URL",
    "RETRAIN_APP_PRIVATE_KEY",
}
PR_SECRETS = {"MLFLOW_PR_REVIEW_USERNAME", "MLFLOW_PR_REVIEW_PASSWORD"}
PACKAGE_PUSHER = ("release.yml", "image")
WRITE_IDENTITIES = {"AWS_ROLE_ARN", "GCP_SERVICE_ACCOUNT", "AZURE_CLIENT_ID"}
TRUSTED_ENVIRONMENTS = {"production", "release"}
EXPECTED_ENVIRONMENT = {
    ("train.yml", "train"): "production",
    ("batch.yml", "score"): "production",
    ("monitor.yml", "monitor"): "production",
    ("monitor.yml", "retrain"): "production",
    ("release.yml", "image"): "release",
    ("pr-review.yml", "candidate"): "pr-review",
}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
CREDENTIAL = re.compile(r"\bsecrets\.\w+|\bvars\.\w*(ROLE_ARN|SERVICE_ACCOUNT|CLIENT_ID|IDENTITY_PROVIDER)\b")


@dataclass
class Project:
    answers: dict[str, str]
    root: Path

    def workflow(self, name: str) -> Path:
        return self.root / ".github" / "workflows" / name


def environment_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def expressions(node: object) -> list[str]:
    return EXPRESSION.findall(yaml.safe_dump(node, width=10_000))


def trust_findings(path: Path, trusted: set[str], untrusted: set[str]) -> list[str]:
    """Every way ``path`` crosses the trust boundary; ``trusted``/``untrusted``: the two pools' labels."""
    workflow = yaml.safe_load(path.read_text())
    from_pull_requests = bool(PR_TRIGGERS & set(triggers(workflow)))
    trusted_only = {label for label in trusted - untrusted if label.lower() not in AUTOMATIC_LABELS}
    found = []
    for name, job in workflow["jobs"].items():
        text = yaml.safe_dump(job, width=10_000)
        environment = environment_name(job)
        if "secrets." in text and not environment:
            found.append(f"job {name}: reads a secret outside an environment")
        expected = EXPECTED_ENVIRONMENT.get((path.name, name))
        if expected and environment != expected:
            found.append(f"job {name}: runs in environment {environment!r}, not {expected!r}")
        packages = (job.get("permissions") or {}).get("packages") if isinstance(job.get("permissions"), dict) else None
        if job.get("permissions") == "write-all" or (
            packages == "write" and ((path.name, name) != PACKAGE_PUSHER or environment != "release")
        ):
            found.append(f"job {name}: may push packages outside release.yml's image job in `release`")
        found.extend(
            f"job {name}: a credential falls back to another: ${{{{{expression}}}}}"
            for expression in expressions(job)
            if "||" in expression and CREDENTIAL.search(expression)
        )
        if not from_pull_requests:
            continue
        runs_on = job.get("runs-on", [])
        labels = set(runs_on if isinstance(runs_on, list) else [runs_on])
        # A job runs on any runner carrying all its labels: a trusted runner carries the trusted labels and the
        # automatic ones, so a pull-request job must ask for a label no trusted runner has.
        lands_on_trusted = "self-hosted" in labels and labels <= trusted | AUTOMATIC_LABELS
        if labels & trusted_only or lands_on_trusted:
            found.append(f"job {name}: a pull-request job asks for the trusted pool {sorted(labels)}")
        if environment in TRUSTED_ENVIRONMENTS:
            found.append(f"job {name}: a pull-request job runs in the trusted environment {environment!r}")
        secrets = set(re.findall(r"\bsecrets\.(\w+)", text))
        named = (secrets & WRITE_SECRETS) | (set(re.findall(r"\bvars\.(\w+)", text)) & WRITE_IDENTITIES)
        if named:
            found.append(f"job {name}: a pull-request job names main's write credentials {sorted(named)}")
        if secrets - PR_SECRETS - WRITE_SECRETS - {"GITHUB_TOKEN"}:
            found.append(f"job {name}: a pull-request job names secrets {sorted(secrets - PR_SECRETS)}")
    if path.name == "release.yml":
        found += release_findings(workflow)
    return found


def release_findings(workflow: dict[str, Any]) -> list[str]:
    """The version is checked by a job that runs no shell, and reaches the image job only as its output."""
    found = []
    on = triggers(workflow)
    if set(on) != {"push", "workflow_dispatch"} or on["push"] != {"tags": ["v*"]}:
        found.append(f"release triggers are not v* tags and a manual run: {on}")
    version, image = workflow["jobs"].get("version", {}), workflow["jobs"].get("image", {})
    if any("run" in step for step in version.get("steps", [])):
        found.append("the version job runs a shell step")
    if "refs/heads/main" not in str(version.get("if", "")) or "refs/tags/v" not in str(version.get("if", "")):
        found.append("the version job does not limit releases to v* tags and main")
    if image.get("needs") != "version":
        found.append("the image job does not wait for the version check")
    if image.get("env", {}).get("VERSION") != "${{ needs.version.outputs.version }}":
        found.append("VERSION does not come from the version check")
    if re.search(r"github\.(ref|ref_name|head_ref)\b", yaml.safe_dump(image, width=10_000)):
        found.append("the image job reads the ref itself")
    return found


def table_cell(markdown: str, first_cell: str, column: int) -> str:
    """Cell ``column`` (0: the first) of the markdown table row whose first cell is ``first_cell``; "" when none."""
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |")]
    cells = rows[0].strip("|").split(" | ") if rows else []
    return cells[column] if column < len(cells) else ""


def docs_findings(project: Path, trusted: set[str], untrusted: set[str]) -> list[str]:
    """Every workflow in the docs' tables where its jobs are: its environments' rows of docs/ci.md, and, for the
    trusted pool, docs/runners.md's pool table and the runner group's selected workflows."""
    ci = (project / "docs" / "ci.md").read_text()
    runners = (project / "docs" / "runners.md").read_text()
    repo = json.loads((project / ".cookiecutter.json").read_text())
    selected = f"{repo['github_owner']}/{repo['project_slug']}/.github/workflows/{{}}@refs/heads/main"
    found = []
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        if not table_cell(ci, f"`{path.name}`", 0):
            found.append(f"docs/ci.md: no row for {path.name} in the workflow table")
        for job in workflow["jobs"].values():
            environment = environment_name(job)
            if environment and f"`{path.name}`" not in table_cell(ci, f"`{environment}`", 2):  # "Used by"
                found.append(f"docs/ci.md: {path.name} missing from the `{environment}` environment's row")
            runs_on = job.get("runs-on")
            labels = set(runs_on if isinstance(runs_on, list) else [runs_on])
            if "self-hosted" in labels and labels & (trusted - untrusted - AUTOMATIC_LABELS):
                if f"`{path.name}`" not in table_cell(runners, "**trusted**", 1):  # "Runs"
                    found.append(f"docs/runners.md: {path.name} missing from the trusted pool's row")
                if selected.format(path.name) not in runners.replace("\n", " "):
                    found.append(f"docs/runners.md: {path.name} missing from the runner group's selected workflows")
    return sorted(set(found))


@pytest.fixture(scope="module")
def projects(rendered: Callable[..., Path]) -> dict[str, Project]:
    return {combo_id(a): Project(a, rendered(**a).resolve()) for a in workflow_combinations()}


def pools(project: Project) -> tuple[set[str], set[str]]:
    return labels_of(project.answers), labels_of(project.answers, "pr")


@pytest.mark.parametrize("combo", [combo_id(a) for a in workflow_combinations()])
def test_every_workflow_keeps_the_trust_boundary(combo: str, projects: dict[str, Project]) -> None:
    project = projects[combo]
    trusted, untrusted = pools(project)
    if project.answers["training_runner"] != "github-hosted":
        assert (
            trusted != untrusted and trusted - untrusted - AUTOMATIC_LABELS and untrusted - trusted - AUTOMATIC_LABELS
        )
    found = {
        path.name: trust_findings(path, trusted, untrusted)
        for path in sorted((project.root / ".github" / "workflows").glob("*.yml"))
    }
    assert found == {name: [] for name in found}, found
    review = yaml.safe_load(project.workflow("pr-review.yml").read_text())
    assert set(review["jobs"]["candidate"]["runs-on"]) == untrusted
    assert docs_findings(project.root, trusted, untrusted) == []


def test_zizmor_auditor_and_pedantic_find_no_secret_outside_an_environment(projects: dict[str, Project]) -> None:
    folders = [p.root / ".github" for p in projects.values()]
    for persona in ("auditor", "pedantic"):
        found = zizmor_findings(folders, persona)
        outside = [
            f"{path}: {f}" for path, findings in found.items() for f in findings if f.startswith("secrets-outside-env")
        ]
        assert outside == [], outside


# --- negative mutations: each weakening must be caught -------------------------------------------------------


def mutated(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    folder = tmp_path / "mutated" / ".github" / "workflows"
    folder.mkdir(parents=True)
    text = source.read_text()
    assert old in text, old
    target = folder / source.name
    target.write_text(text.replace(old, new))
    return target


@pytest.mark.parametrize(
    ("combo", "workflow", "old", "new", "caught"),
    [
        # main's secrets outside their environment
        (
            "self-hosted-cpu-local",
            "train.yml",
            "    environment: production",
            "",
            "reads a secret outside an environment",
        ),
        (
            "self-hosted-cpu-local",
            "batch.yml",
            "    environment: production",
            "",
            "reads a secret outside an environment",
        ),
        (
            "self-hosted-cpu-local",
            "release.yml",
            "    environment: release",
            "",
            "reads a secret outside an environment",
        ),
        # a trusted job in the pull-request environment, and the reverse
        ("self-hosted-cpu-local", "train.yml", "environment: production", "environment: pr-review", "not 'production'"),
        (
            "self-hosted-cpu-local",
            "pr-review.yml",
            "environment: pr-review",
            "environment: production",
            "runs in the trusted environment 'production'",
        ),
        # the pull request on the trusted pool
        ("self-hosted-cpu-local", "pr-review.yml", '"cpu", "pr"]', '"cpu", "trusted"]', "asks for the trusted pool"),
        ("self-hosted-gpu-s3", "pr-review.yml", '"gpu", "pr"]', '"gpu"]', "asks for the trusted pool"),
        # main's write secret or write identity named by a pull-request job
        (
            "self-hosted-cpu-local",
            "pr-review.yml",
            "secrets.MLFLOW_PR_REVIEW_PASSWORD",
            "secrets.MLFLOW_WRITER_PASSWORD",
            "names main's write credentials ['MLFLOW_WRITER_PASSWORD']",
        ),
        (
            "self-hosted-cpu-s3",
            "pr-review.yml",
            "vars.AWS_REVIEW_ROLE_ARN }}",
            "vars.AWS_ROLE_ARN }}",
            "names main's write credentials ['AWS_ROLE_ARN']",
        ),
        # a fallback from the pull request's credential to main's, for each cloud and for MLflow
        (
            "self-hosted-cpu-s3",
            "pr-review.yml",
            "vars.AWS_REVIEW_ROLE_ARN }}",
            "vars.AWS_REVIEW_ROLE_ARN || vars.AWS_ROLE_ARN }}",
            "a credential falls back to another",
        ),
        (
            "self-hosted-cpu-gs",
            "pr-review.yml",
            "vars.GCP_REVIEW_SERVICE_ACCOUNT }}",
            "vars.GCP_REVIEW_SERVICE_ACCOUNT || vars.GCP_SERVICE_ACCOUNT }}",
            "a credential falls back to another",
        ),
        (
            "self-hosted-cpu-azure",
            "pr-review.yml",
            "vars.AZURE_REVIEW_CLIENT_ID }}",
            "vars.AZURE_REVIEW_CLIENT_ID || vars.AZURE_CLIENT_ID }}",
            "a credential falls back to another",
        ),
        (
            "self-hosted-cpu-local",
            "pr-review.yml",
            "secrets.MLFLOW_PR_REVIEW_PASSWORD }}",
            "secrets.MLFLOW_PR_REVIEW_PASSWORD || secrets.MLFLOW_WRITER_PASSWORD }}",
            "a credential falls back to another",
        ),
        # a secret of no consumer's named by the pull request
        (
            "self-hosted-cpu-local",
            "pr-review.yml",
            "secrets.MLFLOW_PR_REVIEW_USERNAME }}",
            "secrets.DEPLOY_KEY }}",
            "a pull-request job names secrets ['DEPLOY_KEY']",
        ),
        # packages pushed from elsewhere than the release job in `release`
        (
            "self-hosted-cpu-local",
            "train.yml",
            "      contents: read  # check out the code\n",
            "      contents: read  # check out the code\n      packages: write\n",
            "may push packages outside release.yml's image job",
        ),
        (
            "self-hosted-cpu-local",
            "pr-review.yml",
            "      pull-requests: write  # create or update",
            "      packages: write\n      pull-requests: write  # create or update",
            "may push packages outside release.yml's image job",
        ),
        (
            "self-hosted-cpu-local",
            "release.yml",
            "    environment: release  #",
            "    environment: production  #",
            "may push packages outside release.yml's image job",
        ),
        # the release version straight from the ref, or no check before the image job
        (
            "self-hosted-cpu-local",
            "release.yml",
            "VERSION: ${{ needs.version.outputs.version }}",
            "VERSION: ${{ github.ref_name }}",
            "VERSION does not come from the version check",
        ),
        ("self-hosted-cpu-local", "release.yml", "    needs: version\n", "", "does not wait for the version check"),
        (
            "self-hosted-cpu-local",
            "release.yml",
            "|| (github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main')",
            "|| github.event_name == 'workflow_dispatch'",
            "does not limit releases to v* tags and main",
        ),
    ],
)
def test_each_weakening_is_caught(
    tmp_path: Path, projects: dict[str, Project], combo: str, workflow: str, old: str, new: str, caught: str
) -> None:
    project = projects[combo]
    path = mutated(tmp_path, project.workflow(workflow), old, new)
    found = trust_findings(path, *pools(project))
    assert any(caught in f for f in found), found


@pytest.mark.parametrize(
    ("doc", "old", "new", "caught"),
    [
        (
            "ci.md",
            "`train.yml`, `batch.yml`, `monitor.yml` |",
            "`train.yml`, `batch.yml` |",
            "monitor.yml missing from the `production`",
        ),
        ("ci.md", "| `monitor.yml` | every morning", "| monitor | every morning", "no row for monitor.yml"),
        (
            "runners.md",
            "`batch.yml`, `monitor.yml`, `release.yml`: main's",
            "`batch.yml`, `release.yml`: main's",
            "monitor.yml missing from the trusted pool's row",
        ),
        (
            "runners.md",
            "workflows/monitor.yml@refs/heads/main",
            "workflows/monitor.yml",
            "monitor.yml missing from the runner group",
        ),
    ],
)
def test_a_workflow_missing_from_the_docs_is_caught(
    tmp_path: Path, projects: dict[str, Project], doc: str, old: str, new: str, caught: str
) -> None:
    project = projects["self-hosted-cpu-local"]
    copy = tmp_path / "project"
    shutil.copytree(project.root / ".github", copy / ".github")
    shutil.copytree(project.root / "docs", copy / "docs")
    shutil.copy(project.root / ".cookiecutter.json", copy)
    text = (copy / "docs" / doc).read_text()
    assert old in text, old
    (copy / "docs" / doc).write_text(text.replace(old, new))
    found = docs_findings(copy, *pools(project))
    assert any(caught in f for f in found), found


def test_zizmor_catches_a_secret_outside_an_environment(tmp_path: Path, projects: dict[str, Project]) -> None:
    path = mutated(tmp_path, projects["self-hosted-cpu-local"].workflow("train.yml"), "    environment: production", "")
    found = zizmor_findings([path.parent.parent], "auditor").get(path.resolve(), [])
    assert any(f.startswith("secrets-outside-env") for f in found), found
