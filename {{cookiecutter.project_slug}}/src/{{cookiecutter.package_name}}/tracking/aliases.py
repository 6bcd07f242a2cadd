"""The registry's aliases (`champion`, `challenger`), and which version one points at, read without importing MLflow.

Importing MLflow costs seconds, and the batch job and the service only need one number to know whether the champion
in the BentoML store is still current. This module reads it from where the registry keeps it:

- a database tracking URI (``sqlite:///mlflow.db``, ``postgresql://...``, ``mysql://...``): MLflow's registry tables
  ``registered_model_aliases`` and ``model_versions``, read only;
- an ``http(s)://`` tracking server: MLflow's REST endpoint ``GET /api/2.0/mlflow/registered-models/alias``, with the
  basic-auth user (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``) or token (``MLFLOW_TRACKING_TOKEN``)
  MLflow itself would send.

Anything else (another scheme, custom TLS settings, a schema or an answer it does not recognise) raises
``Unsupported``: the caller then asks the MLflow client, which stays the reference (registry.champion).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import HTTPError
from urllib.parse import unquote, urlencode
from urllib.request import Request, urlopen

if TYPE_CHECKING:
    from ..core.config import Tracking

log = logging.getLogger(__name__)
CHAMPION = "champion"  # the version that is served; register moves it when the quality gate passes
CHALLENGER = "challenger"  # the newest registered version, promoted or not
TIMEOUT = 10.0  # seconds for one REST call
# MLflow's settings that change how it talks to a server: when one is set, the MLflow client does the lookup.
CLIENT_SETTINGS = (
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
)
QUERY = (
    "SELECT a.version FROM registered_model_aliases a JOIN model_versions v ON v.name = a.name AND "
    "v.version = a.version WHERE a.name = {name} AND a.alias = {alias} AND v.current_stage <> 'Deleted_Internal'"
)


class Unsupported(Exception):
    """This lookup cannot tell (scheme, settings, schema): ask the MLflow client instead."""


def version(tracking_uri: str, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at for ``model_name`` (None: no such alias or model); raises Unsupported."""
    scheme = tracking_uri.split(":", 1)[0].lower() if ":" in tracking_uri else ""
    if scheme == "sqlite":
        return _sqlite(tracking_uri, model_name, alias)
    if scheme in ("http", "https"):
        return _rest(tracking_uri, model_name, alias)
    if scheme.split("+", 1)[0] in ("postgresql", "mysql", "mssql"):
        return _database(tracking_uri, model_name, alias)
    raise Unsupported(f"no direct alias lookup for {scheme or 'a local path'} tracking URIs")


def champion_version(tracking: Tracking) -> str | None:
    """The `champion`'s version number read without MLflow; None when there is none, or when only the MLflow
    client can tell (``Unsupported``: the caller then asks it)."""
    try:
        return version(tracking.resolved_uri, tracking.model_name, CHAMPION)
    except Unsupported as why:
        log.debug("champion lookup through MLflow: %s", why)
        return None


def _sqlite(uri: str, model_name: str, alias: str) -> str | None:
    if not uri.startswith("sqlite:///") or "?" in uri:
        raise Unsupported("a SQLite URI with options or a memory database")
    path = Path(unquote(uri.removeprefix("sqlite:///")))
    if not path.is_file():
        return None  # no tracking database yet: no champion (MLflow would create an empty one)
    try:
        with sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=TIMEOUT) as connection:
            row = connection.execute(QUERY.format(name="?", alias="?"), (model_name, alias)).fetchone()
    except sqlite3.Error as error:  # not an MLflow database (yet), or another schema: the client knows
        raise Unsupported(str(error)) from None
    return None if row is None else str(row[0])


def _database(uri: str, model_name: str, alias: str) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(uri)
        try:
            with engine.connect() as connection:
                row = connection.execute(
                    text(QUERY.format(name=":name", alias=":alias")), {"name": model_name, "alias": alias}
                ).first()
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as error:  # a driver or table missing: the client says what is wrong
        raise Unsupported(str(error)) from None
    return None if row is None else str(row[0])


def _rest(uri: str, model_name: str, alias: str) -> str | None:
    if any(os.environ.get(name) for name in CLIENT_SETTINGS):
        raise Unsupported("custom TLS settings")
    query = urlencode({"name": model_name, "alias": alias})
    request = Request(f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}")
    elif user and password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urlopen(request, timeout=TIMEOUT) as answer:  # the tracking URI the user configured
            found = json.loads(answer.read())
    except HTTPError as error:
        try:
            problem = json.loads(error.read())
        except (ValueError, OSError):
            problem = {}
        code, message = problem.get("error_code"), str(problem.get("message", ""))
        if (error.code, code) == (404, "RESOURCE_DOES_NOT_EXIST"):  # no such registered model
            return None
        if (error.code, code) == (400, "INVALID_PARAMETER_VALUE") and message.endswith(f"alias {alias} not found."):
            return None
        raise Unsupported(f"HTTP {error.code} from the tracking server: {code} {message}"[:300]) from None
    except (OSError, ValueError) as error:
        raise Unsupported(str(error)) from None
    try:
        return str(found["model_version"]["version"])
    except (KeyError, TypeError):
        raise Unsupported("an answer without model_version.version") from None
