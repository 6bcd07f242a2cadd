"""The writer's own housekeeping in the serving layer: a probe write that leaves nothing behind (is the database
taking writes again?) and the removal of requests whose callers were told they failed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from .database import now, predictions, requests

PROBE = "probe"  # the source of the row a health probe writes and removes in one transaction


def probe(engine: Engine) -> None:
    """A real write that leaves nothing behind: a `requests` row inserted and deleted in one committed transaction
    (a full disk, a held lock, a read-only or unreachable database all fail it)."""
    with engine.begin() as connection:
        values = dict.fromkeys(("request_id", "model_name", "model_version"), "")
        connection.execute(requests.insert().values(values | {"source": PROBE, "created_at": now(), "row_count": 0}))
        connection.execute(requests.delete().where(requests.c.source == PROBE))


def remove_requests(engine: Engine, source: str, request_ids: Sequence[str]) -> None:
    """Delete requests (and their predictions) by id: writes whose callers were told they failed (a 503 after a
    write that hung past the deadline, then committed), so that an answer other than 200 means nothing stored."""
    with engine.begin() as connection:
        keys = select(requests.c.id).where(requests.c.source == source, requests.c.request_id.in_(list(request_ids)))
        connection.execute(predictions.delete().where(predictions.c.request.in_(keys)))
        connection.execute(
            requests.delete().where(requests.c.source == source, requests.c.request_id.in_(list(request_ids)))
        )
