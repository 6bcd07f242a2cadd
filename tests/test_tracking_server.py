"""The team's tracking server, for real: `make mlflow-server` of a set-up default project (conftest's
``set_up_project``: its pipeline never ran here) on a PostgreSQL server started here (Debian's binaries), artifacts
proxied into a local folder, basic auth with `make mlflow-users`; then two clones of the project run `dvc repro` at
the same time as the writer, with MLFLOW_TRACKING_URI=http://127.0.0.1:<port>.

The clones are set up so that the race is the harmful one: the weaker candidate's search is longer, so its register
stage moves `champion` last. Both versions are promoted against the same (empty) baseline; serialisable promotion
(tracking.settle_champion) must leave the better one as champion.
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
ADMIN, READER, WRITER = ("admin", "admin-Secret-1"), ("reader", "reader-Secret-2"), ("writer", "writer-Secret-3")
MODEL = "my-mlops-project"
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
    env = project_env(set_up_project) | {
        "MLFLOW_BACKEND_STORE_URI": f"{url}/mlflow",
        "MLFLOW_AUTH_DATABASE_URI": f"{url}/mlflow_auth",
        "MLFLOW_ARTIFACTS_DESTINATION": str(work / "artifacts"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_READER_PASSWORD": READER[1],
        "MLFLOW_WRITER_PASSWORD": WRITER[1],
    }
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


def test_the_reader_reads_the_registry_but_cannot_move_the_champion(
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
    env = project_env(set_up_project) | {"MLFLOW_TRACKING_USERNAME": READER[0], "MLFLOW_TRACKING_PASSWORD": READER[1]}
    out = run([".venv/bin/python", "-c", probe, server["uri"], MODEL], set_up_project, env=env).stdout.split()
    assert out == ["refused", race["registry"]["champion"], "True"]
