"""The team's tracking server, for real: `make mlflow-server` of the default project on a PostgreSQL server started
here (Debian's binaries), artifacts proxied into a local folder, basic auth with `make mlflow-users`; then two
clones of the project run `dvc repro` at the same time as the writer, with MLFLOW_TRACKING_URI=http://127.0.0.1:<port>.

The clones are set up so that the race is the harmful one: the weaker candidate's search is longer, so its register
stage moves `champion` last. Both versions are promoted against the same (empty) baseline; serialisable promotion
(tracking.settle_champion) must leave the better one as champion.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .conftest import free_port, project_env, run, serving

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


def pg_bindir() -> Path | None:
    found = shutil.which("initdb") or next(
        iter(sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin/initdb")), reverse=True)), None
    )
    return Path(found).resolve().parent if found else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, Path]]:
    """A throwaway PostgreSQL on a free port with two databases: MLflow's store and its auth app's users."""
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="mlflow-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        for database in ("mlflow", "mlflow_auth"):
            subprocess.run(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", database], check=True
            )
        yield f"postgresql+psycopg://mlflow@127.0.0.1:{port}", bindir
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(default_project: Path, postgres, tmp_path_factory) -> Iterator[dict]:
    """`make mlflow-server` in the default project, users provisioned by `make mlflow-users`."""
    url, _ = postgres
    work = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = project_env(default_project) | {
        "MLFLOW_BACKEND_STORE_URI": f"{url}/mlflow",
        "MLFLOW_AUTH_DATABASE_URI": f"{url}/mlflow_auth",
        "MLFLOW_ARTIFACTS_DESTINATION": str(work / "artifacts"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_READER_PASSWORD": READER[1],
        "MLFLOW_WRITER_PASSWORD": WRITER[1],
    }
    uri = f"http://127.0.0.1:{port}"
    command = ["make", "mlflow-server", f"MLFLOW_PORT={port}"]
    with serving(command, default_project, f"{uri}/health", work / "server.log", env=env, timeout=180):
        run(["make", "mlflow-users", f"MLFLOW_PORT={port}"], default_project, env=env)
        yield {"uri": uri, "artifacts": work / "artifacts", "db": f"{url}/mlflow"}


def clone(default_project: Path, target: Path, search: list[dict]) -> Path:
    subprocess.run(["git", "clone", "-q", str(default_project), str(target)], check=True)
    params = yaml.safe_load((target / "params.yaml").read_text())
    params["train"]["cv_folds"] = 3
    params["train"]["search"] = {"strategy": "grid", "max_trials": 4, "max_seconds": 300, "candidates": search}
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def race(default_project: Path, server: dict, tmp_path_factory) -> dict:
    """Two clones (the project's own venv on PATH) run `dvc repro` at the same time against the server."""
    root = tmp_path_factory.mktemp("clones")
    env = project_env(default_project) | {
        "MLFLOW_TRACKING_URI": server["uri"],
        "MLFLOW_TRACKING_USERNAME": WRITER[0],
        "MLFLOW_TRACKING_PASSWORD": WRITER[1],
    }
    clones = {name: clone(default_project, root / name, search) for name, search in SEARCHES.items()}
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
        run([".venv/bin/python", "-c", REGISTRY, server["uri"], MODEL], default_project, env=env).stdout
    )
    return {"registrations": registrations, "registry": registry, "clones": clones}


def test_two_pipelines_at_once_end_with_the_better_as_champion_and_both_registered(race) -> None:
    registrations, registry = race["registrations"], race["registry"]
    strong, weak = (str(registrations[name]["version"]) for name in ("strong", "weak"))
    assert strong != weak and {strong, weak} <= set(registry["versions"])
    auc = {v: float(registry["versions"][v]["holdout.roc_auc"]) for v in (strong, weak)}
    assert auc[strong] > auc[weak], auc
    # both passed the gate against the same (empty) baseline, and the better one holds the alias
    assert registrations["strong"]["promoted"] and registrations["weak"]["promoted"]
    assert registry["versions"][weak]["promotion.baseline"] == registry["versions"][strong]["promotion.baseline"]
    assert registry["champion"] == strong, (registry["champion"], auc, registrations)


def test_artifacts_are_in_the_servers_store_and_the_backend_holds_no_local_paths(race, server, postgres) -> None:
    _, bindir = postgres
    # every registered version's model files live under the server's artifact destination
    assert len(list(server["artifacts"].rglob("MLmodel"))) >= 2
    # the backend only holds mlflow-artifacts:/ URIs: no client's folder, no file:// path, not the store's own folder
    dump = subprocess.run(
        [str(bindir / "pg_dump"), "--data-only", server["db"].replace("+psycopg", "")],
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
            server["db"].replace("+psycopg", ""),
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


def test_the_reader_reads_the_registry_but_cannot_move_the_champion(race, server, default_project) -> None:
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
    env = project_env(default_project) | {"MLFLOW_TRACKING_USERNAME": READER[0], "MLFLOW_TRACKING_PASSWORD": READER[1]}
    out = run([".venv/bin/python", "-c", probe, server["uri"], MODEL], default_project, env=env).stdout.split()
    assert out == ["refused", race["registry"]["champion"], "True"]
