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
ERRORS = {
    "400": "Bad input: the body names the field and the problem (missing or unknown field, wrong type, NaN, no records)",
    "413": f"The body is larger than {MAX_BODY_BYTES} bytes: send fewer records per request",
    "503": "Overloaded: the request waited longer than its batch allows; retry later",
}


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
    operation = spec["paths"]["/predict"]["post"]
    for status, text in ERRORS.items():
        operation["responses"][status] = {"description": text, "content": {"application/json": {}}}
    if example:
        operation["requestBody"]["content"]["application/json"]["example"] = example
    return spec


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
