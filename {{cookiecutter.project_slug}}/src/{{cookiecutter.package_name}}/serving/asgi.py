"""The service's ASGI middlewares and request plumbing around BentoML: answers leave only once stored
(``Acknowledge``), bodies have a size limit (``BodyLimit``), and a client's mistake (4xx) costs one log line.

``TICKET`` and ``PENDING`` tie an answer to the commit of its rows: the request's validation writes the request id
into the request's ticket, ``predict`` files the commit's future under it, ``Acknowledge`` holds the answer until
that future is done.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from concurrent.futures import Future
from typing import Any

import bentoml

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 1024 * 1024
# Acknowledged means stored, without holding the model while the rows commit: `predict` hands a batch's rows to the
# writer and returns; Acknowledge (the middleware below) holds each answer until its rows are committed. The request
# id links the two: the request's validation writes it into the request's TICKET, `predict` files the commit's
# future under it in PENDING.
TICKET: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("ticket")
PENDING: dict[str, Future[None]] = {}


class BodyLimit:
    """ASGI middleware: a body larger than ``max_bytes`` gets 413, whether it declares its length or streams."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def limited_receive() -> dict:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # stop reading: the app sees a cut body, its answer is replaced below
                    refused = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: dict) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if refused:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {
                "error": "payload too large",
                "detail": [
                    {
                        "loc": ["body"],
                        "msg": f"the body is larger than {self.max_bytes} bytes; send fewer records per request",
                    }
                ],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Acknowledge:
    """ASGI middleware: an answer of POST /predict leaves only once its rows are committed (see TICKET).

    While it waits, the worker scores the next batch, so a commit costs latency, not throughput. A commit that
    failed turns the answer into a 503: the client was never told it was stored."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != "/predict":
            await self.app(scope, receive, send)
            return
        ticket: dict[str, str] = {}
        TICKET.set(ticket)
        held: list[dict] = []

        async def hold(message: dict) -> None:
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._release(ticket, held, send)

        await self.app(scope, receive, hold)

    @staticmethod
    async def _release(ticket: dict[str, str], held: list[dict], send: Any) -> None:
        commit = PENDING.get(ticket.get("request_id", ""))
        if commit is not None:
            try:
                await asyncio.wrap_future(commit)
            except Exception as error:
                log.error("the predictions of request %s could not be stored: %s", ticket["request_id"], error)
                held[:] = _unavailable()
            finally:
                PENDING.pop(ticket["request_id"], None)
        for message in held:
            await send(message)
        held.clear()


def _unavailable() -> list[dict]:
    body = json.dumps({"error": "the predictions could not be stored in the serving layer; retry later"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": 503, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class ClientErrors(logging.Filter):
    """BentoML logs every refused request as an error with its traceback (about 20 lines, and the time to format
    them). A 4xx is the client's mistake, answered with a body that names it: the access log has its line, and
    the detail goes to the debug level, one line. Server errors (5xx) keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or _status(error) >= 500:
            return True
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s", record.getMessage(), " ".join(str(error).split())[:2000])
        return False


def _status(error: BaseException) -> int:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return 400
    code = getattr(error, "error_code", None)
    return int(code) if isinstance(error, bentoml.exceptions.BentoMLException) and code is not None else 500


def quiet_client_errors() -> None:
    """Install ClientErrors on the logger BentoML reports request errors with (once per process)."""
    logger = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, ClientErrors) for f in logger.filters):
        logger.addFilter(ClientErrors())


def forget(request_ids: list[str], commit: Future[None]) -> None:
    """A committed request needs no ticket any more (a failed one keeps it, so its answer becomes a 503)."""
    if commit.exception() is None:
        for request_id in request_ids:
            PENDING.pop(request_id, None)
