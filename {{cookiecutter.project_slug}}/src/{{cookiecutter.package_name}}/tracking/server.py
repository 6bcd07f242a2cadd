"""The team's MLflow server: `mlflow server` on a PostgreSQL backend store, artifacts proxied by the server
(``--artifacts-destination``: a folder here, ``s3://``, ``gs://`` or ``wasbs://`` in production, so clients never
hold storage credentials and the backend stores only ``mlflow-artifacts:/`` URIs), and MLflow's basic-auth app.

``make mlflow-server`` runs it; ``make mlflow-users`` (against the running server: once, and again for each
rotation) creates one user per consumer, the identities the workflows and deployments sign in as (CONSUMERS below;
docs/ci.md and docs/tracking.md list the same). ``default_permission`` is NO_PERMISSIONS: a user reaches nothing it
was not granted. On the project's experiment and registered model the writer gets MANAGE, every other consumer
READ: with READ, MLflow refuses every write (runs, tags, artifact uploads into a run's or a logged model's folder,
versions, aliases) with 403. The two consumers that log runs of their own get EDIT on an experiment of their own,
which the admin creates: pull-request reviews on ``<experiment>-pull-requests``, the monitor on ``monitoring``.
The admin (MLFLOW_AUTH_ADMIN_PASSWORD) manages users.
"""

from __future__ import annotations

import configparser
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.config import Tracking
from ..core.errors import UserError
from .runs import MONITORING_EXPERIMENT

log = logging.getLogger(__name__)
AUTH_CONFIG = Path(".mlflow-server/basic_auth.ini")


@dataclass(frozen=True)
class Account:
    username: str
    password: str


def auth_config(path: Path, database_uri: str, admin_username: str = "admin") -> Path:
    """The basic-auth app's settings: users in ``database_uri``, nothing for anyone not granted more."""
    parser = configparser.ConfigParser()
    parser["mlflow"] = {
        "default_permission": "NO_PERMISSIONS",
        "database_uri": database_uri,
        "admin_username": admin_username,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)  # the database URL may carry a password: only the owner reads it
    path.chmod(0o600)
    with path.open("w") as stream:
        parser.write(stream)
    return path


def command(backend_store_uri: str, artifacts_destination: str, host: str, port: int, workers: int = 2) -> list[str]:
    """`mlflow server` with a database backend, proxied artifacts and basic auth."""
    if not (backend_store_uri or "").startswith(("postgresql", "mysql", "mssql", "sqlite")):
        raise UserError(
            "MLFLOW_BACKEND_STORE_URI (or --backend-store-uri) must be a database URL such as "
            f"postgresql+psycopg://mlflow@db:5432/mlflow, got {backend_store_uri!r}"
        )
    return [
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--serve-artifacts",
        "--app-name",
        "basic-auth",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def serve(backend_store_uri: str, artifacts_destination: str, host: str, port: int, auth_database_uri: str) -> None:
    """Replace this process with the server (Ctrl+C stops it)."""
    if not os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
        raise UserError("set MLFLOW_AUTH_ADMIN_PASSWORD: the basic-auth app creates its admin user with it")
    if "://" not in artifacts_destination:
        Path(artifacts_destination).mkdir(parents=True, exist_ok=True)
    config = auth_config(AUTH_CONFIG.absolute(), auth_database_uri or backend_store_uri)
    argv = command(backend_store_uri, artifacts_destination, host, port)
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
    os.environ.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secret_key(config.parent / "secret_key"))
    log.info(
        "MLflow server on http://%s:%s (backend %s, artifacts %s)",
        host,
        port,
        _redacted(backend_store_uri),
        artifacts_destination,
    )
    os.execvp(argv[0], argv)


def secret_key(path: Path) -> str:
    """The key the auth app signs its CSRF tokens with: the same for every worker and across restarts (kept in a
    file only the owner reads; several servers behind one address share MLFLOW_FLASK_SERVER_SECRET_KEY instead)."""
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Consumer:
    """One identity: its environment variables (<prefix>_USERNAME, <prefix>_PASSWORD), its default user name, its
    permission on the project's experiment and registered model, and the experiment of its own it may write to."""

    prefix: str
    username: str
    project: str
    own_experiment: str | None = None


PULL_REQUESTS = "{experiment}-pull-requests"  # pr-review.yml's MLFLOW_EXPERIMENT_NAME
CONSUMERS = (
    Consumer("MLFLOW_WRITER", "writer", "MANAGE"),  # train.yml on main: logs, registers, moves the aliases
    Consumer("MLFLOW_PR_REVIEW", "pr-review", "READ", PULL_REQUESTS),  # pr-review.yml: reads main, logs its own
    Consumer("MLFLOW_BATCH", "batch", "READ"),  # batch.yml and the Spark job
    Consumer("MLFLOW_MONITOR", "monitor", "READ", MONITORING_EXPERIMENT),  # monitor.yml
    Consumer("MLFLOW_RELEASE", "release", "READ"),  # release.yml
    Consumer("MLFLOW_SERVING", "serving", "READ"),  # the service (deploy/k8s)
)


def provision(uri: str, tracking: Tracking, admin: Account, accounts: dict[Consumer, Account]) -> dict[str, object]:
    """Create (or keep) the experiments and the registered model, create each consumer in ``accounts`` (or set its
    password: a rotation) and set its permissions to CONSUMERS'. Idempotent: run it again on a new server, after a
    rotation, or to put a permission changed by hand back."""
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client
    from mlflow.server.auth.permissions import RESOURCE_TYPE_EXPERIMENT, RESOURCE_TYPE_REGISTERED_MODEL
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = admin.username, admin.password
    users = get_app_client("basic-auth", tracking_uri=uri)
    for account in accounts.values():
        try:
            users.create_user(account.username, account.password)
        except MlflowException as error:
            if not _exists(error):
                raise
            users.update_user_password(account.username, account.password)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def experiment_id(name: str) -> str:
        found = client.get_experiment_by_name(name)
        return found.experiment_id if found else client.create_experiment(name)

    project = experiment_id(tracking.experiment)
    try:
        client.create_registered_model(tracking.model_name)
    except MlflowException as error:
        if not _exists(error):
            raise
    grants = []
    for consumer, account in accounts.items():
        grants += [
            (account.username, RESOURCE_TYPE_EXPERIMENT, project, consumer.project),
            (account.username, RESOURCE_TYPE_REGISTERED_MODEL, tracking.model_name, consumer.project),
        ]
        if consumer.own_experiment:
            own = experiment_id(consumer.own_experiment.format(experiment=tracking.experiment))
            grants.append((account.username, RESOURCE_TYPE_EXPERIMENT, own, "EDIT"))
    for username, kind, resource, permission in grants:
        try:
            users.grant_user_permission(username, kind, resource, permission)
        except MlflowException as error:
            if not _exists(error):
                raise
            users.revoke_user_permission(username, kind, resource)  # granted before: set it to what it must be
            users.grant_user_permission(username, kind, resource, permission)
    return {
        "experiment_id": project,
        "model_name": tracking.model_name,
        "users": {account.username: consumer.project for consumer, account in accounts.items()},
    }


def _exists(error: Exception) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_ALREADY_EXISTS" or "already exists" in str(error).lower()


def account(prefix: str, default_username: str) -> Account:
    """An account from the environment: <PREFIX>_USERNAME (default ``default_username``) and <PREFIX>_PASSWORD."""
    password = os.environ.get(f"{prefix}_PASSWORD")
    if not password:
        raise UserError(f"set {prefix}_PASSWORD")
    return Account(os.environ.get(f"{prefix}_USERNAME") or default_username, password)


def consumer_accounts() -> dict[Consumer, Account]:
    """The consumers whose <PREFIX>_PASSWORD is set (all of them on a new server; one, to rotate its password)."""
    found = {c: account(c.prefix, c.username) for c in CONSUMERS if os.environ.get(f"{c.prefix}_PASSWORD")}
    if not found:
        raise UserError(
            "set the password of each user to create (or of the one to rotate): "
            + ", ".join(f"{c.prefix}_PASSWORD" for c in CONSUMERS)
        )
    return found
