"""The service's ASGI middlewares and request plumbing around BentoML: answers leave only once stored
(``Acknowledge``), bodies have a size limit (``BodyLimit``), every 503 says when to retry (``RetryAfter``), and a
client's mistake (4xx) costs one log line.

``TICKET`` and ``PENDING`` tie an answer to the commit of its rows: the request's validation writes the request id
into the request's ticket, ``predict`` files the commit's future under it, ``Acknowledge`` holds the answer until
that future is done.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

import bentoml

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 1024 * 1024
# Acknowledged means stored, without holding the model while the rows commit: `predict` hands a batch's rows to the
# writer and returns; Acknowledge (the middleware below) holds each answer until its rows are committed. The request
# id links the two: the request's validation writes it into the request's TICKET, `predict` files the commit's
# future under it in PENDING.
TICKET: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("ticket")
PENDING: dict[str, list[Future[None]]] = {}  # a request split over two model calls has a commit for each part


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


class Commits(Protocol):
    """What Acknowledge needs of the serving layer's writer (predictions/writer.py)."""

    def unavailable(self) -> str | None: ...

    def abandon(self, future: Future[None]) -> bool: ...


RETRY_AFTER_S = 1  # a 503's Retry-After: the writer probes the database this often


class Acknowledge:
    """ASGI middleware: an answer of POST /predict leaves only once its rows are committed (see TICKET).

    While it waits, the worker scores the next batch, so a commit costs latency, not throughput. While the serving
    layer takes no writes (``commits().unavailable()``), a request is refused with a 503 before it is scored. A
    commit that failed, or that is not done within ``wait_s`` seconds, turns the answer into a 503: the request
    abandons its commit (the writer then never writes its rows, or removes them once the late transaction
    commits) and the client was never told it was stored. A request that is cancelled (the client went away,
    BentoML's timeout) abandons its commit the same way; the commit shared with other requests goes on."""

    def __init__(self, app: Any, commits: Callable[[], Commits | None] = lambda: None, wait_s: float = 2.0) -> None:
        self.app = app
        self.commits = commits
        self.wait_s = wait_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != "/predict":
            await self.app(scope, receive, send)
            return
        writer = self.commits()
        refusal = "the service is starting" if writer is None else writer.unavailable()
        if refusal is not None:
            for message in _unavailable(refusal):
                await send(message)
            return
        ticket: dict[str, str] = {}
        TICKET.set(ticket)
        held: list[dict] = []

        async def hold(message: dict) -> None:
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._release(writer, ticket, held, send)

        await self.app(scope, receive, hold)

    async def _release(self, writer: Commits | None, ticket: dict[str, str], held: list[dict], send: Any) -> None:
        request_id = ticket.get("request_id", "")
        for commit in PENDING.pop(request_id, []):
            problem = await self._stored(writer, commit)
            if problem is not None:
                log.debug("the predictions of request %s are not stored: %s", request_id, problem)
                held[:] = _unavailable(f"the predictions could not be stored in the serving layer ({problem})")
                break
        for message in held:
            await send(message)
        held.clear()

    async def _stored(self, writer: Commits | None, commit: Future[None]) -> str | None:
        """None once ``commit`` is done; else why the rows are not (and will not be) stored."""
        waited = asyncio.wrap_future(commit)
        try:  # shielded: a timeout or a cancellation ends this wait, never the commit other requests share
            await asyncio.wait_for(asyncio.shield(waited), self.wait_s)
        except TimeoutError:
            if writer is not None and writer.abandon(commit):
                return f"the commit took longer than {self.wait_s:g} s"
            return await self._outcome(waited)  # decided meanwhile: its outcome is on its way
        except asyncio.CancelledError:
            if writer is not None:
                writer.abandon(commit)
            raise
        except Exception as error:
            return str(error)
        return None

    @staticmethod
    async def _outcome(waited: asyncio.Future[None]) -> str | None:
        try:
            await asyncio.shield(waited)
        except Exception as error:
            return str(error)
        return None


class RetryAfter:
    """ASGI middleware: every 503 (the serving layer is unavailable, BentoML's overload answer, /readyz) tells the
    client when to retry (``Retry-After``)."""

    def __init__(self, app: Any, seconds: float = RETRY_AFTER_S) -> None:
        self.app = app
        self.header = (b"retry-after", str(max(1, math.ceil(seconds))).encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    message = message | {"headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, with_header)


class JsonOnly:
    """ASGI middleware: a multipart body (which BentoML would parse as a form, and answer a malformed one with a
    500) is refused with 415: the APIs take JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = dict(scope.get("headers", [])).get(b"content-type", b"") if scope["type"] == "http" else b""
        if scope.get("method") != "POST" or not kind.lower().startswith(b"multipart/"):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "the body must be JSON (Content-Type: application/json), not multipart"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 415, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ErrorBodies:
    """ASGI middleware: a 4xx that BentoML writes for an exception the API raised (InvalidArgument, NotFound) is the
    list ``[{"error": ...}]`` (BentoML 1.4 builds a one-element tuple there); it is sent as the object
    ``{"error": ...}`` that every other error body is and that the spec documents."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def unwrapped(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            try:
                found = json.loads(body)
            except ValueError:
                found = None
            if isinstance(found, list) and len(found) == 1 and isinstance(found[0], dict) and "error" in found[0]:
                body = json.dumps(found[0]).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send(start | {"headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, unwrapped)


def _unavailable(reason: str) -> list[dict]:
    body = json.dumps({"error": f"{reason}; retry later"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
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


def forget(request_id: str, commit: Future[None]) -> None:
    """A committed part needs no ticket any more (a failed one keeps it, so its answer becomes a 503)."""
    if commit.exception() is None:
        parts = PENDING.get(request_id, [])
        if commit in parts:
            parts.remove(commit)
        if not parts:
            PENDING.pop(request_id, None)
