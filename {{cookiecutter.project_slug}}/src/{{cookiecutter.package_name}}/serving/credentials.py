"""Who may use the service's two endpoints beyond /predict: ``POST /feedback`` needs the feedback token, ``GET
/metrics`` the metrics token (or a client on this machine). Both are bearer tokens from the environment
(``Authorization: Bearer <token>``), compared in constant time; each variable may hold several tokens separated by
spaces, so a new one can be added before the old one is dropped (a rotation without downtime).

- ``FEEDBACK_TOKEN``: without it ``POST /feedback`` is disabled (403, saying how to enable it), never open. A token
  rather than prediction ids signed by ``/predict``: whoever may predict gets ids, so signed ids would let any
  client label its own predictions, which is the poisoning this closes (many crafted predictions, each labelled
  with the wrong class). Labels come from whoever knows the truth (a back office, a labelling job): a party with a
  credential of its own. Each label records the token's fingerprint as its sender.
- ``METRICS_TOKEN``: Prometheus' scraper sends it; without it ``/metrics`` answers loopback clients only.

A token shorter than MIN_LENGTH characters is refused when the service starts (``openssl rand -hex 32`` makes one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import UserError

MIN_LENGTH = 32
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def fingerprint(token: str) -> str:
    """A token as a label's sender: the start of its sha256, which names it without revealing it."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Tokens:
    """The tokens one environment variable holds (none: the endpoint is not enabled by a token)."""

    variable: str
    digests: tuple[bytes, ...]
    fingerprints: tuple[str, ...]

    @classmethod
    def from_env(cls, variable: str, environ: Mapping[str, str] = os.environ) -> Tokens:
        tokens = environ.get(variable, "").replace(",", " ").split()
        short = [i + 1 for i, token in enumerate(tokens) if len(token) < MIN_LENGTH]
        if short:
            raise UserError(
                f"{variable}: token {', '.join(map(str, short))} is shorter than {MIN_LENGTH} characters; "
                "make one with `openssl rand -hex 32`"
            )
        return cls(
            variable,
            tuple(hashlib.sha256(t.encode()).digest() for t in tokens),
            tuple(fingerprint(t) for t in tokens),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def sender(self, authorization: str | None) -> str | None:
        """The fingerprint of the token an ``Authorization`` header presents, when it is one of these; else None."""
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        digest = hashlib.sha256(presented.strip().encode()).digest()
        found = None
        for known, name in zip(self.digests, self.fingerprints, strict=True):  # every one compared: constant time
            if hmac.compare_digest(digest, known):
                found = name
        return found


BEARER = "`Authorization: Bearer <{}>`"
FEEDBACK_HELP = (
    "POST /feedback is disabled: set FEEDBACK_TOKEN in the service's environment (a secret of at least "
    f"{MIN_LENGTH} characters: openssl rand -hex 32) and send it as `Authorization: Bearer <token>` (docs/monitoring.md)"
)


class Guard:
    """ASGI middleware: ``/feedback`` and ``/metrics`` answer only callers with their token (before any body is read).

    ``feedback``: refused with 403 when no FEEDBACK_TOKEN is set, 401 for a missing or wrong token. ``metrics``:
    with METRICS_TOKEN set, 401 without it; unset, 403 for any client that is not on this machine."""

    def __init__(self, app: Any, feedback: Tokens, metrics: Tokens) -> None:
        self.app = app
        self.feedback = feedback
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await _answer(send, *refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: dict) -> tuple[int, str, str] | None:
        """(status, error, the WWW-Authenticate value or "") for a request that may not pass; None when it may."""
        path = scope.get("path", "").rstrip("/")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        presented = headers.get("authorization")
        if path == "/feedback":
            if not self.feedback.enabled:
                return 403, FEEDBACK_HELP, ""
            if self.feedback.sender(presented) is None:
                return 401, f"POST /feedback needs the feedback token: {BEARER.format('FEEDBACK_TOKEN')}", "Bearer"
        elif path == "/metrics":
            if self.metrics.enabled and self.metrics.sender(presented) is None:
                return 401, f"GET /metrics needs the metrics token: {BEARER.format('METRICS_TOKEN')}", "Bearer"
            if not self.metrics.enabled and (scope.get("client") or ("",))[0] not in LOOPBACK:
                return 403, "GET /metrics answers this machine only: set METRICS_TOKEN to let a scraper in", ""
        return None


async def _answer(send: Any, status: int, error: str, challenge: str) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
