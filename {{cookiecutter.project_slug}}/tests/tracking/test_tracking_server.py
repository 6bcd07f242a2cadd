"""The team server's command line and auth settings (tracking/server.py); the server itself runs in the template's
tests/test_tracking_server.py against a real PostgreSQL."""

from __future__ import annotations

import configparser
import stat

import pytest

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.tracking import server as tracking_server


def test_the_server_gets_a_database_backend_proxied_artifacts_and_basic_auth() -> None:
    argv = tracking_server.command("postgresql+psycopg://mlflow@db/mlflow", "s3://bucket/mlflow", "0.0.0.0", 5000)
    assert argv[:2] == ["mlflow", "server"]
    assert argv[argv.index("--backend-store-uri") + 1] == "postgresql+psycopg://mlflow@db/mlflow"
    assert argv[argv.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"
    assert "--serve-artifacts" in argv and argv[argv.index("--app-name") + 1] == "basic-auth"


@pytest.mark.parametrize("uri", [None, "", "./mlruns", "file:///srv/mlruns"])
def test_a_backend_that_is_not_a_database_is_refused_naming_the_setting(uri) -> None:
    with pytest.raises(config.UserError, match="MLFLOW_BACKEND_STORE_URI"):
        tracking_server.command(uri, "mlartifacts", "127.0.0.1", 5000)


def test_auth_settings_grant_nothing_by_default_and_are_private(tmp_path) -> None:
    path = tracking_server.auth_config(tmp_path / "auth" / "basic_auth.ini", "postgresql+psycopg://u:secret@db/auth")
    settings = configparser.ConfigParser()
    settings.read(path)
    assert settings["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    assert settings["mlflow"]["database_uri"] == "postgresql+psycopg://u:secret@db/auth"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_secret_key_is_made_once_and_kept(tmp_path) -> None:
    first = tracking_server.secret_key(tmp_path / "secret_key")
    assert len(first) == 64 and tracking_server.secret_key(tmp_path / "secret_key") == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_an_account_needs_its_password(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_PR_REVIEW_PASSWORD", raising=False)
    with pytest.raises(config.UserError, match="MLFLOW_PR_REVIEW_PASSWORD"):
        tracking_server.account("MLFLOW_PR_REVIEW", "pr-review")
    monkeypatch.setenv("MLFLOW_PR_REVIEW_PASSWORD", "pw")
    assert tracking_server.account("MLFLOW_PR_REVIEW", "pr-review") == tracking_server.Account("pr-review", "pw")


def test_one_user_per_consumer_and_only_the_writer_manages_the_project() -> None:
    by_name = {c.username: c for c in tracking_server.CONSUMERS}
    assert list(by_name) == ["writer", "pr-review", "batch", "monitor", "release", "serving"]
    assert {name: c.project for name, c in by_name.items() if c.project != "READ"} == {"writer": "MANAGE"}
    assert {name: c.own_experiment for name, c in by_name.items() if c.own_experiment} == {
        "pr-review": "{experiment}-pull-requests",
        "monitor": "monitoring",
    }
    assert len({c.prefix for c in tracking_server.CONSUMERS}) == len(tracking_server.CONSUMERS)


def test_users_are_made_for_the_passwords_given_so_one_rotates_alone(monkeypatch) -> None:
    for consumer in tracking_server.CONSUMERS:
        monkeypatch.delenv(f"{consumer.prefix}_PASSWORD", raising=False)
        monkeypatch.delenv(f"{consumer.prefix}_USERNAME", raising=False)
    with pytest.raises(config.UserError, match="MLFLOW_WRITER_PASSWORD, MLFLOW_PR_REVIEW_PASSWORD"):
        tracking_server.consumer_accounts()
    monkeypatch.setenv("MLFLOW_SERVING_PASSWORD", "new")
    monkeypatch.setenv("MLFLOW_SERVING_USERNAME", "svc")
    accounts = tracking_server.consumer_accounts()
    assert [(c.username, a) for c, a in accounts.items()] == [("serving", tracking_server.Account("svc", "new"))]
