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


def test_auth_settings_read_only_by_default_and_private(tmp_path) -> None:
    path = tracking_server.auth_config(tmp_path / "auth" / "basic_auth.ini", "postgresql+psycopg://u:secret@db/auth")
    settings = configparser.ConfigParser()
    settings.read(path)
    assert settings["mlflow"]["default_permission"] == "READ"
    assert settings["mlflow"]["database_uri"] == "postgresql+psycopg://u:secret@db/auth"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_secret_key_is_made_once_and_kept(tmp_path) -> None:
    first = tracking_server.secret_key(tmp_path / "secret_key")
    assert len(first) == 64 and tracking_server.secret_key(tmp_path / "secret_key") == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_an_account_needs_its_password(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_READER_PASSWORD", raising=False)
    with pytest.raises(config.UserError, match="MLFLOW_READER_PASSWORD"):
        tracking_server.account("MLFLOW_READER", "reader")
    monkeypatch.setenv("MLFLOW_READER_PASSWORD", "pw")
    assert tracking_server.account("MLFLOW_READER", "reader") == tracking_server.Account("reader", "pw")
