"""The service's docs page (``/`` and ``/docs``) and OpenAPI document (``/docs.json``), served without
third-party scripts: Swagger UI from the copy BentoML ships, the spec made true for this service.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .asgi import MAX_BODY_BYTES
from .model import stored_schema
from .records import MAX_RECORDS


def example_request(stored: Any) -> dict[str, Any]:
    """A made-up request body for the docs page, from the schema of ``stored`` (a model in the BentoML store)
    alone: 0.0 for each number, null (missing, imputed as in training) for each text feature. Never a row of the
    training data, which the docs page would publish to anyone who can reach it."""
    schema = stored_schema(stored)
    return {"records": [{f.name: (0.0 if f.kind == "numeric" else None) for f in schema.features}]}


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>__TITLE__</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css">
    <link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script>
      window.ui = SwaggerUIBundle({
        url: "./docs.json", dom_id: "#swagger-ui", deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout", validatorUrl: null,
      });
    </script>
  </body>
</html>
"""
# Every error body is {"error": text} and, for bad input, "detail": one entry per problem (pydantic's, or ours)
PROBLEM = {
    "type": "object",
    "required": ["loc", "msg"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
        "url": {"type": "string"},
    },
}
ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "array", "items": PROBLEM}},
}
RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}}
}
ERRORS = {
    "400": "Bad input: the body names each field and problem (missing or unknown field, wrong type, NaN, no records)",
    "404": "Unknown path, or (feedback) prediction ids the serving layer does not have: the body names them",
    "415": "A multipart body: the APIs take JSON",
    "413": f"The body is larger than {MAX_BODY_BYTES} bytes: send fewer records per request",
    "500": "A bug: the body says to read the server's log",
    "503": "Unavailable: the serving layer takes no writes now (nothing was stored), the write queue is full, or the "
    "request waited longer than its batch allows; retry after Retry-After seconds",
    "504": "Not answered within the service's 60 s timeout; retry with the same body (feedback replaces)",
}
FEEDBACK_ERRORS = {  # serving/credentials.Guard, before the body is read
    "401": "No feedback token, or a wrong one: send `Authorization: Bearer <FEEDBACK_TOKEN>`",
    "403": "Feedback is disabled: the service was started without FEEDBACK_TOKEN",
}
CHALLENGE = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
PROBES = {"/livez", "/readyz", "/healthz"}


def openapi_document(spec: dict[str, Any], version: str, example: dict[str, Any]) -> dict[str, Any]:
    """BentoML's OpenAPI spec made true for this service: its version, every status /predict answers, an example.

    BentoML's own description (badges and links loaded from other hosts) gives way to the service's.
    """
    spec = json.loads(json.dumps(spec))
    description = (
        f"Predictions from the MLflow registry's `champion`. `POST /predict` takes 1..{MAX_RECORDS} records (the "
        "example is made up, not a training row) and answers one prediction per record; every answer is stored in "
        "the serving layer. `POST /feedback` takes true labels with the feedback token (`Authorization: Bearer`). "
        "Health: `/livez`, `/readyz`; Prometheus metrics: `/metrics` (this machine, or the metrics token)."
    )
    spec["info"] |= {"version": version, "description": description}
    spec["info"].pop("contact", None)
    for path in ("/predict", "/feedback"):
        responses = spec["paths"][path]["post"]["responses"]
        for status, text in ERRORS.items():
            responses[status] = {"description": text, "content": {"application/json": {"schema": ERROR_BODY}}}
        responses["503"]["headers"] = RETRY_AFTER
    feedback = spec["paths"]["/feedback"]["post"]["responses"]
    for status, text in FEEDBACK_ERRORS.items():
        feedback[status] = {"description": text, "content": {"application/json": {"schema": ERROR_BODY}}}
    feedback["401"]["headers"] = CHALLENGE
    for path in PROBES & set(spec["paths"]):
        responses = spec["paths"][path]["get"]["responses"]
        responses["200"] = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    ready = spec["paths"]["/readyz"]["get"]["responses"]
    ready["503"] = {
        "description": "Not ready: the serving layer takes no writes now (it turns ready on its own)",
        "headers": RETRY_AFTER,
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    if example:
        spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"] = example
    return _nullable(spec)


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 has no "null" type: pydantic's ``anyOf: [X, {"type": "null"}]`` becomes X with ``nullable``."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        node.pop("anyOf")
        node |= (rest[0] if len(rest) == 1 else {"anyOf": rest}) | {"nullable": True}
    return node


class DocsPage:
    """ASGI middleware: the docs page (``/`` and ``/docs``) and ``/docs.json`` without third-party scripts.

    BentoML's page loads Google Tag Manager and badge images from other hosts; this one loads only Swagger UI
    from the copy BentoML ships (``/static_content``), with the spec of ``openapi_document``.
    """

    PAGES = ("/", "/docs", "/docs/")

    def __init__(self, app: Any, title: str = "", document: Any = None) -> None:
        self.app = app
        self.page = DOCS_PAGE.replace("__TITLE__", html.escape(title)).encode()
        self.document = document
        self._spec: bytes | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        if scope["path"] in self.PAGES:
            return await self._answer(send, self.page, b"text/html; charset=utf-8")
        if scope["path"] == "/docs.json" and self.document is not None:
            if self._spec is None:
                self._spec = json.dumps(self.document()).encode()
            return await self._answer(send, self._spec, b"application/json")
        return await self.app(scope, receive, send)

    @staticmethod
    async def _answer(send: Any, body: bytes, kind: bytes) -> None:
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
