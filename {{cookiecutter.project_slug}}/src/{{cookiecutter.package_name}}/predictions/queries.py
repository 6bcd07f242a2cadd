"""Reads of the serving layer: counts, the summary `make serve-demo` prints, what monitoring reads for a time
window (requests, predictions, kept features, labelled predictions: trusted labels only, and how many were not),
and the retention (prune)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, func, select

from .database import SCORED_COLUMNS, TRUSTED_LABELS, feedback, feedback_conflicts, predictions, requests, scored


def count(engine: Engine, source: str | None = None, request_id: str | None = None) -> int:
    """Prediction rows, of one source and one request or batch when given."""
    query = select(func.count()).select_from(predictions)
    if source is not None or request_id is not None:
        query = query.join(requests, predictions.c.request == requests.c.id)
    if source is not None:
        query = query.where(requests.c.source == source)
    if request_id is not None:
        query = query.where(requests.c.request_id == request_id)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def summary(engine: Engine) -> list[dict[str, Any]]:
    """Row counts by source and model version: what `make serve-demo` prints."""
    query = (
        select(
            scored.c.source,
            scored.c.model_name,
            scored.c.model_version,
            func.count().label("rows"),
            func.count(scored.c.request_id.distinct()).label("requests"),
        )
        .group_by(scored.c.source, scored.c.model_name, scored.c.model_version)
        .order_by(scored.c.source, scored.c.model_version)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def window_requests(engine: Engine, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The requests and batches of a time window (source, id, time, model, rows, input): the volume overview."""
    query = select(
        requests.c.source,
        requests.c.request_id,
        requests.c.created_at,
        requests.c.model_name,
        requests.c.model_version,
        requests.c.row_count,
        requests.c.input,
    ).where(requests.c.created_at >= since, requests.c.created_at < until)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def _window(query: Any, since: datetime, until: datetime) -> Any:
    return query.select_from(predictions.join(requests, predictions.c.request == requests.c.id)).where(
        requests.c.created_at >= since, requests.c.created_at < until
    )


def window_predictions(engine: Engine, since: datetime, until: datetime) -> list[tuple[str, str, Any, datetime]]:
    """(source, model version, prediction, created_at) of every prediction in the window."""
    columns = (requests.c.source, requests.c.model_version, predictions.c.prediction, requests.c.created_at)
    query = _window(select(*columns), since, until)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def window_inputs(engine: Engine, since: datetime, until: datetime, limit: int) -> list[dict[str, Any]]:
    """The kept features of the window's predictions; about ``limit`` of them, drawn at random, when there are
    more. Each row is kept with probability limit/total in one pass, so the database neither sorts nor reads the
    features of the rows it skips."""
    query = _window(select(predictions.c.inputs), since, until).where(predictions.c.inputs.is_not(None))
    with engine.connect() as connection:
        total = connection.execute(
            _window(select(func.count()), since, until).where(predictions.c.inputs.is_not(None))
        ).scalar_one()
        if total > limit:
            share = limit / total
            if engine.dialect.name == "sqlite":  # random() is a 64-bit integer there
                query = query.where(func.abs(func.random()) % 1_000_000 < int(share * 1_000_000))
            else:
                query = query.where(func.random() < share)
        return [row[0] for row in connection.execute(query)]


def _disputed() -> Any:
    """True for a labelled prediction that also has a conflicting label."""
    return exists().where(
        and_(feedback_conflicts.c.request == feedback.c.request, feedback_conflicts.c.row_index == feedback.c.row_index)
    )


def labelled(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Predictions that have a trusted feedback label (from a source in TRUSTED_LABELS, without a conflicting
    label): the `scored` view's columns (ids, source, model name and version, features when kept, prediction,
    probabilities), the label and where it came from. What live metrics and harvest read; label_counts says what
    was left out."""
    query = (
        select(*SCORED_COLUMNS, feedback.c.label, feedback.c.source.label("label_source"))
        .select_from(
            feedback.join(
                predictions,
                (feedback.c.request == predictions.c.request) & (feedback.c.row_index == predictions.c.row_index),
            ).join(requests, predictions.c.request == requests.c.id)
        )
        .where(feedback.c.source.in_(TRUSTED_LABELS), ~_disputed())
    )
    if since is not None:
        query = query.where(requests.c.created_at >= since)
    if until is not None:
        query = query.where(requests.c.created_at < until)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def label_counts(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> dict[str, int]:
    """Labelled predictions of the window by what became of their label: ``trusted`` (what labelled() returns),
    ``conflicts`` (a later label contradicted it: left out), ``untrusted`` (an unverified source: left out)."""
    trusted = feedback.c.source.in_(TRUSTED_LABELS)
    query = select(
        func.count().filter(trusted & ~_disputed()),
        func.count().filter(_disputed()),
        func.count().filter(~trusted & ~_disputed()),
    ).select_from(feedback.join(requests, feedback.c.request == requests.c.id))
    if since is not None:
        query = query.where(requests.c.created_at >= since)
    if until is not None:
        query = query.where(requests.c.created_at < until)
    with engine.connect() as connection:
        found = connection.execute(query).one()
    return {"trusted": int(found[0]), "conflicts": int(found[1]), "untrusted": int(found[2])}


def prune(engine: Engine, before: datetime) -> int:
    """Delete the requests (and their predictions and feedback) created before ``before``: the retention."""
    old = select(requests.c.id).where(requests.c.created_at < before).scalar_subquery()
    with engine.begin() as connection:
        connection.execute(feedback_conflicts.delete().where(feedback_conflicts.c.request.in_(old)))
        connection.execute(feedback.delete().where(feedback.c.request.in_(old)))
        deleted = connection.execute(predictions.delete().where(predictions.c.request.in_(old))).rowcount
        connection.execute(requests.delete().where(requests.c.created_at < before))
    return int(deleted or 0)
