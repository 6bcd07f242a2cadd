"""The team's tracking server, for real: `make mlflow-server` of a set-up default project (conftest's
``set_up_project``: its pipeline never ran here) on a PostgreSQL server started here (Debian's binaries), artifacts
proxied into a local folder, basic auth with `make mlflow-users`; then two clones of the project run `dvc repro` at
the same time as the writer, with MLFLOW_TRACKING_URI=http://127.0.0.1:<port>.

The clones are set up so that the race is the harmful one: the weaker candidate's search is longer, so its register
stage moves `champion` last. Both versions are promoted against the same (empty) baseline; serialisable promotion
(tracking.settle_champion) must leave the better one as champion.

Then the trust boundary on that server (issue 21): the pull-request identity reads main's champion but every write
into main (an artifact PUT into the champion's model folder or a run's folder, a tag or metric on main's run, a
version tag) is refused with 403; a model file changed after registration by an identity that may write there is
refused by the import that serving does; and a candidate the pull-request identity logged, committed with its
metrics and lock file, is refused by register while main's fresh-candidate trains its own.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import servers

from .projects import free_port, project_env, run, serving

pytestmark = pytest.mark.slow
ADMIN, WRITER = ("admin", "admin-Secret-1"), ("writer", "writer-Secret-3")
PR_REVIEW, SERVING = ("pr-review", "pr-review-Secret-2"), ("serving", "serving-Secret-4")
CONSUMERS = {"WRITER": WRITER, "PR_REVIEW": PR_REVIEW, "SERVING": SERVING, "BATCH": ("batch", "batch-Secret-5")}
MODEL = "my-mlops-project"
PR_EXPERIMENT = f"{MODEL}-pull-requests"  # pr-review.yml's MLFLOW_EXPERIMENT_NAME
SEARCHES = {  # same data, same seed: the strong one is a regularised logistic regression, the weak one tree stumps
    "strong": [{"family": "logistic_regression", "params": {"C": [1.0]}}],
    "weak": [
        {"family": "hist_gradient_boosting", "params": {"max_depth": [1], "learning_rate": [0.001, 0.002, 0.003]}}
    ],
}
REGISTRY = r"""
import json, sys
from mlflow.tracking import MlflowClient
client, name = MlflowClient(sys.argv[1]), sys.argv[2]
versions = client.search_model_versions(f"name = '{name}'")
champion = client.get_model_version_by_alias(name, "champion").version
print(json.dumps({"champion": str(champion), "versions": {str(v.version): v.tags for v in versions}}))
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[servers.Postgres]:
    """A throwaway PostgreSQL on a free port with two databases: MLflow's store and its auth app's users."""
    try:
        with servers.postgres("mlflow", ("mlflow", "mlflow_auth"), durable=False) as server:
            yield server
    except LookupError as missing:
        pytest.skip(f"{missing} (.ci/run installs Debian's postgresql)")


@pytest.fixture(scope="module")
def server(
    set_up_project: Path, postgres: servers.Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """`make mlflow-server` in the default project, users provisioned by `make mlflow-users`."""
    url = postgres.url
    work = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = (
        project_env(set_up_project)
        | {
            "MLFLOW_BACKEND_STORE_URI": f"{url}/mlflow",
            "MLFLOW_AUTH_DATABASE_URI": f"{url}/mlflow_auth",
            "MLFLOW_ARTIFACTS_DESTINATION": str(work / "artifacts"),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        }
        | {f"MLFLOW_{consumer}_PASSWORD": password for consumer, (_, password) in CONSUMERS.items()}
    )
    uri = f"http://127.0.0.1:{port}"
    command = ["make", "mlflow-server", f"MLFLOW_PORT={port}"]
    with serving(command, set_up_project, f"{uri}/health", work / "server.log", env=env, timeout=180):
        run(["make", "mlflow-users", f"MLFLOW_PORT={port}"], set_up_project, env=env)
        yield {"uri": uri, "artifacts": work / "artifacts"}


def clone(set_up_project: Path, target: Path, search: list[dict[str, Any]]) -> Path:
    subprocess.run(["git", "clone", "-q", str(set_up_project), str(target)], check=True)
    params = yaml.safe_load((target / "params.yaml").read_text())
    params["train"]["cv_folds"] = 3
    params["train"]["search"] = {"strategy": "grid", "max_trials": 4, "max_seconds": 300, "candidates": search}
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def race(set_up_project: Path, server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two clones (the project's own venv on PATH) run `dvc repro` at the same time against the server."""
    root = tmp_path_factory.mktemp("clones")
    env = project_env(set_up_project) | {
        "MLFLOW_TRACKING_URI": server["uri"],
        "MLFLOW_TRACKING_USERNAME": WRITER[0],
        "MLFLOW_TRACKING_PASSWORD": WRITER[1],
    }
    clones = {name: clone(set_up_project, root / name, search) for name, search in SEARCHES.items()}
    jobs = {
        name: subprocess.Popen(
            ["dvc", "repro"], cwd=path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for name, path in clones.items()
    }
    outputs = {name: job.communicate(timeout=1500)[0] for name, job in jobs.items()}
    for name, job in jobs.items():
        assert job.returncode == 0, f"dvc repro in the {name} clone failed:\n{outputs[name][-5000:]}"
    reports = {name: path / "reports" / "registration.json" for name, path in clones.items()}
    registrations = {name: json.loads(report.read_text()) for name, report in reports.items()}
    last = max(reports, key=lambda name: reports[name].stat().st_mtime_ns)
    print(f"race: the {last} clone registered last; registrations {registrations}")
    registry = json.loads(
        run([".venv/bin/python", "-c", REGISTRY, server["uri"], MODEL], set_up_project, env=env).stdout
    )
    return {"registrations": registrations, "registry": registry, "clones": clones}


def test_two_pipelines_at_once_end_with_the_better_as_champion_and_both_registered(race: dict[str, Any]) -> None:
    registrations, registry = race["registrations"], race["registry"]
    strong, weak = (str(registrations[name]["version"]) for name in ("strong", "weak"))
    assert strong != weak and {strong, weak} <= set(registry["versions"])
    auc = {v: float(registry["versions"][v]["holdout.roc_auc"]) for v in (strong, weak)}
    assert auc[strong] > auc[weak], auc
    # both passed the gate against the same (empty) baseline, and the better one holds the alias
    assert registrations["strong"]["promoted"] and registrations["weak"]["promoted"]
    assert registry["versions"][weak]["promotion.baseline"] == registry["versions"][strong]["promotion.baseline"]
    assert registry["champion"] == strong, (registry["champion"], auc, registrations)


def test_artifacts_are_in_the_servers_store_and_the_backend_holds_no_local_paths(
    race: dict[str, Any], server: dict[str, Any], postgres: servers.Postgres
) -> None:
    bindir, store = postgres.bindir, postgres.libpq_url("mlflow")
    # every registered version's model files live under the server's artifact destination
    assert len(list(server["artifacts"].rglob("MLmodel"))) >= 2
    # the backend only holds mlflow-artifacts:/ URIs: no client's folder, no file:// path, not the store's own folder
    dump = subprocess.run(
        [str(bindir / "pg_dump"), "--data-only", store],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "mlflow-artifacts:/" in dump
    for local in [str(server["artifacts"]), "file://", *(str(path) + "/mlruns" for path in race["clones"].values())]:
        assert local not in dump, local
    locations = subprocess.run(
        [
            str(bindir / "psql"),
            "-At",
            store,
            "-c",
            (
                "select artifact_location from experiments union all select artifact_uri from runs union all "
                "select storage_location from model_versions"
            ),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert locations and all(location.startswith("mlflow-artifacts:/") for location in locations), locations


def as_user(project: Path, user: tuple[str, str], **extra: str) -> dict[str, str]:
    return project_env(project) | {"MLFLOW_TRACKING_USERNAME": user[0], "MLFLOW_TRACKING_PASSWORD": user[1]} | extra


def test_the_pr_reviewer_reads_the_registry_but_cannot_move_the_champion(
    race: dict[str, Any], server: dict[str, Any], set_up_project: Path
) -> None:
    probe = r"""
import sys
from mlflow.tracking import MlflowClient
client, name = MlflowClient(sys.argv[1]), sys.argv[2]
champion = client.get_model_version_by_alias(name, "champion").version
try:
    client.set_registered_model_alias(name, "champion", "1")
    print("moved", champion)
except Exception as error:
    print("refused", champion, "403" in str(error))
"""
    env = as_user(set_up_project, PR_REVIEW)
    out = run([".venv/bin/python", "-c", probe, server["uri"], MODEL], set_up_project, env=env).stdout.split()
    assert out == ["refused", race["registry"]["champion"], "True"]


# Every write a pull-request job could aim at main's champion, each answered with its HTTP status.
WRITES = r"""
import base64, json, sys, urllib.error, urllib.request
from mlflow.tracking import MlflowClient
uri, name, user, password, own = sys.argv[1:6]
client = MlflowClient(uri, uri)
champion = client.get_model_version_by_alias(name, "champion")
model = client.get_logged_model(champion.source.removeprefix("models:/"))
run = client.get_run(champion.run_id)
auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

def proxied(location, file, data=None):
    path = location.removeprefix("mlflow-artifacts:/").strip("/") + "/" + file
    request = urllib.request.Request(f"{uri}/api/2.0/mlflow-artifacts/artifacts/{path}", data=data, headers=auth,
                                     method="PUT" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code

def status(call):
    try:
        call()
        return 200
    except Exception as error:
        return error.get_http_status_code() if hasattr(error, "get_http_status_code") else repr(error)

pickled = b"flavors:\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n"
own_experiment = client.get_experiment_by_name(own)
print(json.dumps({
    "read the champion's MLmodel": proxied(model.artifact_location, "MLmodel"),
    "PUT the champion's MLmodel": proxied(model.artifact_location, "MLmodel", pickled),
    "PUT a model.pkl beside it": proxied(model.artifact_location, "model.pkl", b"not a model"),
    "PUT the run's features.json": proxied(run.info.artifact_uri, "features.json", b"{}"),
    "tag main's run": status(lambda: client.set_tag(run.info.run_id, "data.train.md5", "/etc/passwd")),
    "log a metric on main's run": status(lambda: client.log_metric(run.info.run_id, "test_roc_auc", 1.0)),
    "tag the champion version": status(lambda: client.set_model_version_tag(name, champion.version, "model.sha256", "{}")),
    "log a run in its own experiment": status(lambda: client.create_run(own_experiment.experiment_id)),
}))
"""


def test_the_pr_reviewer_is_refused_every_write_into_mains_champion_and_runs(
    race: dict[str, Any], server: dict[str, Any], set_up_project: Path
) -> None:
    # given the champion main registered, and the pull-request identity's credentials
    args = [".venv/bin/python", "-c", WRITES, server["uri"], MODEL, *PR_REVIEW, PR_EXPERIMENT]
    # when it tries every write a pull-request job could aim at main
    found = json.loads(run(args, set_up_project, env=as_user(set_up_project, PR_REVIEW)).stdout)
    # then it reads the champion's files and writes into its own experiment, and every write into main is a 403
    assert found.pop("read the champion's MLmodel") == 200 and found.pop("log a run in its own experiment") == 200
    assert found == dict.fromkeys(found, 403), found


# The writer (who may write into the experiment's artifacts) rewrites the champion's MLmodel to a pickle flavour,
# keeping the original in a file ("swap"), or puts the kept original back ("restore"); prints the PUT's status.
SWAP = r"""
import base64, pathlib, sys, urllib.request
from mlflow.tracking import MlflowClient
uri, name, user, password, mode, kept = sys.argv[1:7]
client = MlflowClient(uri, uri)
champion = client.get_model_version_by_alias(name, "champion")
location = client.get_logged_model(champion.source.removeprefix("models:/")).artifact_location
url = f"{uri}/api/2.0/mlflow-artifacts/artifacts/{location.removeprefix('mlflow-artifacts:/').strip('/')}/MLmodel"
auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
if mode == "swap":
    with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=60) as response:
        original = response.read()
    pathlib.Path(kept).write_bytes(original)
    body = original.replace(b"serialization_format: skops", b"serialization_format: cloudpickle")
    assert body != original, original
else:
    body = pathlib.Path(kept).read_bytes()
with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=auth, method="PUT"), timeout=60) as response:
    print(response.status)
"""


def test_a_model_file_changed_after_registration_is_refused_by_the_serving_import(
    race: dict[str, Any], server: dict[str, Any], set_up_project: Path, tmp_path: Path
) -> None:
    # given the champion's MLmodel rewritten to a pickle flavour by an identity that may write there (the writer)
    swap = [".venv/bin/python", "-c", SWAP, server["uri"], MODEL, *WRITER]
    writer_env, kept = as_user(set_up_project, WRITER), str(tmp_path / "MLmodel")
    assert run([*swap, "swap", kept], set_up_project, env=writer_env).stdout.split() == ["200"]
    serving_env = as_user(set_up_project, SERVING, MLFLOW_TRACKING_URI=server["uri"], BENTOML_HOME=str(tmp_path))
    import_model = [".venv/bin/python", "-m", "my_mlops_project", "import-model"]
    try:
        # when the service's identity imports the champion (make serve, make batch and make bento do)
        done = run(import_model, set_up_project, env=serving_env, check=False)
        # then the import is refused, naming the file, and nothing is stored
        assert done.returncode != 0, done.stdout
        assert "MLmodel changed" in done.stderr and "sha256 manifest recorded at registration" in done.stderr
        assert not list(tmp_path.glob("models/*/*/model.yaml"))
    finally:  # the writer puts the original back
        assert run([*swap, "restore", kept], set_up_project, env=writer_env).stdout.split() == ["200"]
    # and once the file is what was registered, the same identity imports it
    again = run(import_model, set_up_project, env=serving_env)
    assert again.stdout.strip().startswith(f"{MODEL}:v")


def test_a_candidate_the_pr_reviewer_logged_is_never_registered_and_main_trains_its_own(
    race: dict[str, Any], server: dict[str, Any], set_up_project: Path, tmp_path: Path
) -> None:
    # given a pull request's clone that trained and evaluated its candidate as pr-review (make candidate in
    # pr-review.yml) and committed the candidate.json, metrics.json and dvc.lock that go with it
    pr = clone(set_up_project, tmp_path / "pr", SEARCHES["strong"])  # runs on the set-up project's venv
    python = str(set_up_project / ".venv" / "bin" / "python")
    pr_env = as_user(set_up_project, PR_REVIEW, MLFLOW_TRACKING_URI=server["uri"], MLFLOW_EXPERIMENT_NAME=PR_EXPERIMENT)
    run(["dvc", "repro", "evaluate"], pr, env=pr_env, timeout=1500)
    run(["git", "add", "-A"], pr, env=pr_env)
    commit = ["git", "-c", "user.name=pr", "-c", "user.email=pr@example.com", "commit", "-q", "-m", "PR outputs"]
    run(commit, pr, env=pr_env)
    foreign = json.loads((pr / "models" / "candidate.json").read_text())
    main_env = as_user(set_up_project, WRITER, MLFLOW_TRACKING_URI=server["uri"])
    versions = json.loads(run([python, "-c", REGISTRY, server["uri"], MODEL], pr, env=main_env).stdout)
    # when main's writer runs the old `make candidate`, DVC reuses the committed results
    reused = run(["make", "candidate"], pr, env=main_env)
    assert "'train' didn't change" in reused.stdout and "'evaluate' didn't change" in reused.stdout
    # then register refuses the pull request's candidate, and no version is added
    refused = run(["dvc", "repro", "register"], pr, env=main_env, check=False)
    assert refused.returncode != 0
    assert f"refusing candidate run {foreign['run_id']}" in refused.stderr + refused.stdout
    after = json.loads(run([python, "-c", REGISTRY, server["uri"], MODEL], pr, env=main_env).stdout)
    assert after["versions"].keys() == versions["versions"].keys()
    # while train.yml's make fresh-candidate trains and evaluates again, into the project's experiment as the writer
    fresh = run(["make", "fresh-candidate"], pr, env=main_env, timeout=1500)
    assert "Running stage 'train'" in fresh.stdout and "Running stage 'evaluate'" in fresh.stdout
    mine = json.loads((pr / "models" / "candidate.json").read_text())
    probe = (
        "import sys; from mlflow.tracking import MlflowClient; c = MlflowClient(sys.argv[1]); r = c.get_run(sys.argv[2])"
        "; print(c.get_experiment(r.info.experiment_id).name, r.data.tags['mlflow.user'])"
    )
    owner = run([python, "-c", probe, server["uri"], mine["run_id"]], pr, env=main_env).stdout.split()
    assert mine["run_id"] != foreign["run_id"] and owner == [MODEL, WRITER[0]]
