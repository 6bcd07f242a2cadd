"""When the tracking server fails: a stage ends in one line naming the server and the stage, and no run stays RUNNING.

MLflow's client retries each request with backoff, 7 times by default (4 to 8 minutes against a server that is
down); core/environment.py sets shorter defaults (MLFLOW_HTTP_REQUEST_*, a variable you set wins), so an outage
fails a stage in seconds (server stopped) or about half a minute (server frozen: each try waits for its timeout).

- ``run``: the stage's parent run, tagged with this host and process. When the stage fails, the run is marked
  FAILED; when the server itself is what failed, with one quick try (no retries), and if even that fails, the next
  ``run`` on this host marks it (and its RUNNING child runs) FAILED: a run whose process is gone is never left
  RUNNING for longer than until the next training.
- ``reported``: around a whole stage (``python -m <package> <stage>``): a tracking failure becomes a UserError of
  one line: the stage, the server (without its password), what failed (unreachable, timed out, an artifact store
  that is full or refuses the upload), instead of a chained traceback whose last line hides the first failure.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..core.errors import UserError

if TYPE_CHECKING:
    from ..core.config import Tracking

log = logging.getLogger(__name__)
HOST_TAG, PID_TAG = "run.host", "run.pid"
ONE_TRY = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}


class TrackingUnavailable(UserError):
    """The tracking server (or its artifact store) failed the stage."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def failure(error: BaseException) -> str | None:
    """What about the tracking store failed, in a few words, or None when ``error`` is not a tracking failure."""
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return f"its artifact store is full ({cause.strerror})"
    text = " ".join(str(cause) for cause in _chain(error))
    if "No space left on device" in text:
        return "its artifact store is full (No space left on device)"
    if "/mlflow-artifacts/" in text and "500" in text:
        return (
            "its artifact store refused the upload (HTTP 500 after retries: a full disk or an unwritable "
            "--artifacts-destination; the server's log says which)"
        )
    if "API request to" not in text:
        return None
    if "timeout" in text.lower() or "timed out" in text.lower():
        return "did not answer in time (MLFLOW_HTTP_REQUEST_TIMEOUT)"
    if "Connection refused" in text or "Max retries exceeded" in text or "ConnectionError" in text:
        return "is unreachable"
    if "too many" in text and "error responses" in text:
        return "kept failing (HTTP 5xx after retries)"
    return None


def _redacted(uri: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def reported(stage: str, tracking: Tracking) -> Iterator[None]:
    """A tracking failure inside becomes one line (TrackingUnavailable) naming ``stage`` and the server."""
    try:
        yield
    except Exception as error:
        what = failure(error)
        if what is None:
            raise
        notes = " ".join(getattr(error, "__notes__", []))
        message = f"stage {stage}: the MLflow tracking server {_redacted(tracking.resolved_uri)} {what}"
        raise TrackingUnavailable(f"{message}{'; ' + notes if notes else ''}") from None


@contextmanager
def one_try() -> Iterator[None]:
    """MLflow requests inside make one try with a short timeout (ending a run against a server that just failed)."""
    before = {name: os.environ.get(name) for name in ONE_TRY}
    os.environ.update(ONE_TRY)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphans(client: Any, experiment_id: str) -> list[str]:
    """Mark FAILED the RUNNING runs that a process of this host started and that process is gone (the tracking
    server failed while it ended them), with their RUNNING child runs; returns their ids."""
    host = socket.gethostname()
    found = client.search_runs(
        [experiment_id], f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'", max_results=100
    )
    orphans = [run.info.run_id for run in found if not _alive(int(run.data.tags.get(PID_TAG, "0") or 0))]
    for run_id in list(orphans):
        children = client.search_runs(
            [experiment_id], f"attributes.status = 'RUNNING' and tags.`mlflow.parentRunId` = '{run_id}'"
        )
        orphans += [child.info.run_id for child in children]
    for run_id in orphans:
        client.set_terminated(run_id, "FAILED")
    if orphans:
        log.warning("marked %d run(s) FAILED that an earlier stage could not end: %s", len(orphans), ", ".join(orphans))
    return orphans


@contextmanager
def run(tracking: Tracking, **start: Any) -> Iterator[Any]:
    """``mlflow.start_run(**start)`` in the configured experiment (runs.configure), tagged with this host and
    process, ended FINISHED or FAILED; orphans of earlier runs on this host marked FAILED first (see the module)."""
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(os.environ.get("MLFLOW_EXPERIMENT_NAME") or tracking.experiment)
    if experiment is not None:
        fail_orphans(client, experiment.experiment_id)
    tags = dict(start.pop("tags", None) or {}) | {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    started = mlflow.start_run(tags=tags, **start)
    run_id = started.info.run_id
    try:
        yield started
    except BaseException as error:
        if failure(error) is None:
            mlflow.end_run("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            raise
        try:
            with one_try():
                mlflow.end_run("FAILED")
            error.add_note(f"run {run_id} is marked FAILED")
        except Exception:
            error.add_note(f"run {run_id} could not be marked FAILED now: the next training on this host marks it")
        raise
    mlflow.end_run()
