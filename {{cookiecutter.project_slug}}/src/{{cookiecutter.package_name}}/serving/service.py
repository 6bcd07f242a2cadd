"""Real-time serving (hot path): the champion behind ``POST /predict``, every answer logged to the serving layer.

``make serve`` imports the registry's `champion` into the project's BentoML store and starts this service on
127.0.0.1:3000 (``make serve PORT=8080``). The request schema is built from the served model's own feature
schema when this module is imported, so it is typed (and shown on the docs page at / and /docs, spec at
/docs.json, with a real training row as the example) without templating.

- ``POST /predict`` ``{"records": [{feature: value, ...}, ...]}`` (1..MAX_RECORDS records) returns one answer
  per record: prediction, class probabilities (classification), model name and version, request id.
  Adaptive batching merges concurrent requests into one model call.
- Bad input is a 4xx with a JSON body naming the field and the problem, never a 500: missing or unknown
  fields, wrong types, NaN/infinity, an empty list, a body that is not JSON (400), a body over MAX_BODY_BYTES (413).
- Each answer carries ``id``, the prediction's stable id (``<request id>:<position>``); ``POST /feedback``
  ``{"items": [{"id": ..., "label": ...}, ...]}`` stores the true labels (ground truth) in the serving layer's
  `feedback` table, one per prediction (a resend replaces, never double-counts). An unknown id or a label of the
  wrong type or class is a 4xx naming each offending id; nothing of that call is stored.
- ``GET /livez``, ``/readyz`` (BentoML's): liveness and readiness.
- Acknowledged means stored: an answer leaves only once its rows are committed to the serving layer
  (``Acknowledge`` holds it; writer.py commits everything queued in one transaction, so concurrent requests
  share a commit), while the worker already scores the next batch. A SIGKILL loses no answered prediction;
  SIGTERM / Ctrl+C stops accepting, lets the requests in flight finish (answered and stored), then exits.
- A 4xx costs one access-log line (the detail is logged at debug level), never a traceback.
- A new champion is served without a restart: with SERVING_FOLLOW_CHAMPION=SECONDS (``make serve`` sets 30), a
  thread asks the registry that often; a new `champion` is imported, loaded and swapped in between two batches,
  so no request fails. A champion with another feature schema needs a restart (the request schema is typed
  from it): the service says so in its log and keeps serving the version it has.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import functools
import gc
import html
import json
import keyword
import logging
import math
import os
import random
import threading
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import bentoml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, model_validator

from .. import config, environment, features, gate, serving
from ..metrics import TASKS
from . import database, store, writer

log = logging.getLogger(__name__)
# The package's own INFO lines (which runtime serves the model, champion swaps) reach BentoML's log
logging.getLogger(__package__.split(".")[0]).setLevel(logging.INFO)
MAX_RECORDS = 10_000  # records in one request
MAX_BODY_BYTES = 16 * 1024 * 1024
BATCH_SIZE = 512  # records in one model call (adaptive batching merges requests up to this)
BATCH_LATENCY_MS = 30_000  # a request waits at most this long for its batch before a 503 (overload only)
HOME = environment.configure()  # the BentoML store (the project's .bentoml/ unless BENTOML_HOME says otherwise)
WRITE_RETRY_S = 10.0  # a failed commit is retried this long (the database restarting) before the requests get 503
WORKERS = int(os.environ.get("SERVING_WORKERS") or 2)  # processes, each with its model and adaptive batching

CONFIG = config.load()
MODEL_TAG = f"{serving.store_name(CONFIG.tracking.model_name)}:latest"
try:
    STORED = bentoml.models.get(MODEL_TAG)
except bentoml.exceptions.NotFound:
    raise config.UserError(
        f"{MODEL_TAG} is not in the BentoML store: run `python -m {__package__.split('.')[0]} import-model` "
        "(make serve does) with the same BENTOML_HOME"
    ) from None
SCHEMA = serving.stored_schema(STORED)


# Acknowledged means stored, without holding the model while the rows commit: `predict` hands a batch's rows to the
# writer and returns; Acknowledge (the middleware below) holds each answer until its rows are committed. The request
# id links the two: the request's validation writes it into the request's TICKET, `predict` files the commit's
# future under it in PENDING.
TICKET: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("ticket")
PENDING: dict[str, Future[None]] = {}
# Adaptive batching hands `predict` the records of several requests as one list, each request's records together
# and in order. The first record of each request is filed here (by object id) under its request id: `predict` reads
# the request of every record and its position from that. (Private attributes on each record cost pydantic a
# Python call per record, 40% of validating a 100-record request.) A record that dies unscored (its request
# cancelled) takes its entry with it, so an id is never read for another object.
FIRST_RECORDS: dict[int, str] = {}


class RecordBase(BaseModel):
    """One row of features. Unknown fields are refused; null means missing (imputed like in training)."""

    model_config = ConfigDict(extra="forbid")


def _field_name(name: str, position: int) -> str:
    """The column name when it is a valid attribute name; the JSON field keeps the column name either way."""
    usable = name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
    return name if usable else f"feature_{position}"


def record_model(schema: features.Schema) -> type[RecordBase]:
    """A pydantic model with one required field per training feature: finite numbers or text."""
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        kind = Annotated[float, Field(allow_inf_nan=False)] if feature.kind == "numeric" else str
        fields[_field_name(feature.name, position)] = (kind | None, Field(..., alias=feature.name))
    return create_model("Record", __base__=RecordBase, **fields)


def label_type(schema: features.Schema) -> Any:
    if not TASKS[schema.task].has_classes:
        return float
    kinds = {type(c) for c in schema.classes}
    return kinds.pop() if len(kinds) == 1 and kinds <= {int, str, bool, float} else Any


# The request's record type is built from the champion's schema at import; to the type checker it is a RecordBase.
if TYPE_CHECKING:
    Record = RecordBase
else:
    Record = record_model(SCHEMA)
NAMES = SCHEMA.names  # a record's fields are the features in this order (a champion swap keeps the schema)


class PredictRequest(BaseModel):
    """The body of POST /predict. Every record of one request gets the same request id."""

    model_config = ConfigDict(extra="forbid")
    records: list[Record] = Field(min_length=1, max_length=MAX_RECORDS)

    @model_validator(mode="after")
    def _stamp(self) -> PredictRequest:
        request_id = uuid.uuid4().hex
        ticket = TICKET.get(None)
        if ticket is not None:
            ticket["request_id"] = request_id
        first = self.records[0]
        FIRST_RECORDS[id(first)] = request_id
        weakref.finalize(first, FIRST_RECORDS.pop, id(first), None)
        return self


# Built from the champion's label type at import; to the type checker a pydantic model like any other.
if TYPE_CHECKING:
    Prediction = BaseModel
else:
    Prediction = create_model(
        "Prediction",
        prediction=(label_type(SCHEMA), ...),
        probabilities=(dict[str, float] | None, Field(None, description="class -> probability (classification)")),
        model_name=(str, ...),
        model_version=(str, ...),
        request_id=(str, ...),
        id=(str, Field(..., description="the prediction's id: send it back with the true label to POST /feedback")),
    )


class FeedbackItem(BaseModel):
    """One true label for one served prediction (its ``id`` from /predict, or ``<batch id>:<row key>``)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=3, max_length=512)
    label: Any = Field(description="the true class (classification) or value (regression)")


class FeedbackRequest(BaseModel):
    """The body of POST /feedback."""

    model_config = ConfigDict(extra="forbid")
    items: list[FeedbackItem] = Field(min_length=1, max_length=MAX_RECORDS)


class FeedbackResult(BaseModel):
    received: int
    new: int
    replaced: int


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


def settle_heap() -> None:
    """Move what is loaded by now (libraries, the model) out of the garbage collector's sight.

    Measured under load at 16 concurrent clients: a full collection walks every object the imports and the model
    left behind, which stopped a worker for 0.4 to 0.55 s a few times per 20 s, the p99 of every request in flight.
    Frozen objects are never scanned again, so a full collection only walks what requests allocate. Called again
    after a champion swap: unfrozen first, so the replaced model can be collected (one full pass, once)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def example_request(stored: Any = None) -> dict[str, Any]:
    """A real request body for the docs page: the first row of the training data the model was logged with."""
    path = Path((stored or STORED).path_of(serving.MLFLOW_FOLDER)) / "input_example.json"
    try:
        example = json.loads(path.read_text())
        row = _finite(dict(zip(example["columns"], example["data"][0], strict=True)))  # missing: null, as JSON has
    except (OSError, ValueError, KeyError, IndexError):  # a model logged without an example: the docs go without
        return {}
    return {"records": [row]}


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
    """BentoML's OpenAPI spec made true for this service: its version, every status /predict answers, a real example.

    BentoML's own description (badges and links loaded from other hosts) gives way to the service's.
    """
    spec = json.loads(json.dumps(spec))
    description = (
        f"Predictions from the MLflow registry's `champion`. `POST /predict` takes 1..{MAX_RECORDS} records (the "
        "example is a real training row) and answers one prediction per record; every answer is stored in the "
        "serving layer. Health: `/livez`, `/readyz`; Prometheus metrics: `/metrics`."
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


@bentoml.service(
    name=serving.store_name(CONFIG.tracking.model_name),
    workers=WORKERS,
    traffic={"timeout": 60, "max_concurrency": 512},
    http={"cors": {"enabled": False}},
)
class Predictor:
    """The registry's champion, served with adaptive batching; every prediction goes to the serving layer."""

    bento_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.served = serving.load(self.bento_model)
        self.engine = database.connect(CONFIG.serving.resolved_db_url)
        self.write_lock = database.WriteLock(self.engine)  # the workers take turns on a SQLite file
        self.written = 0
        self.writer: writer.Writer[list[dict[str, Any]]] = writer.Writer(
            self._write, name="prediction-writer", retry_for=WRITE_RETRY_S
        )
        quiet_client_errors()
        settle_heap()
        self.classes = [str(c) for c in self.served.schema.classes]
        self.keep_features = CONFIG.monitor.online_features  # share of requests whose features are kept
        log.info(
            "serving %s v%s (%s) on %s",
            self.served.name,
            self.served.version,
            self.bento_model.tag,
            self.served.runtime_name,
        )
        self._stopping = threading.Event()
        every = float(os.environ.get("SERVING_FOLLOW_CHAMPION") or 0)
        if every > 0:
            threading.Thread(target=self._follow, args=(every,), name="follow-champion", daemon=True).start()

    def _follow(self, every: float) -> None:
        """Swap in the registry's new `champion` when it changes (same feature schema only)."""
        refused = None
        while not self._stopping.wait(every):
            try:
                with (HOME / "follow-champion.lock").open("w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # the workers import a new champion once, not each
                    stored = serving.import_champion(CONFIG)
            except Exception as error:  # the registry is unreachable or has no champion: keep serving
                log.warning(
                    "could not check the registry's champion (%s); still serving v%s", error, self.served.version
                )
                continue
            version = stored.info.metadata["registered_version"]
            if version in (self.served.version, refused):
                continue
            candidate = serving.load(stored)
            if candidate.schema != self.served.schema:
                refused = version
                change = gate.schema_change(self.served.schema.to_dict(), candidate.schema.to_dict())
                log.warning(
                    "champion v%s has another schema than the served v%s (%s): still serving v%s; restart the "
                    "service (make serve) to serve the new schema",
                    version,
                    self.served.version,
                    change.describe() or "feature dtypes differ",
                    self.served.version,
                )
                continue
            self.served = candidate  # one assignment: a batch in flight finishes with the model it started with
            settle_heap()
            log.info("now serving %s v%s, the new champion", candidate.name, version)

    def _write(self, groups: Sequence[list[dict[str, Any]]]) -> None:
        rows = [row for group in groups for row in group]
        with self.write_lock:
            store.insert(self.engine, rows)
        self.written += len(rows)

    @bentoml.api(batchable=True, max_batch_size=BATCH_SIZE, max_latency_ms=BATCH_LATENCY_MS, input_spec=PredictRequest)
    def predict(self, records: list[Record]) -> list[Prediction]:
        """Predict 1..N records; returns one answer per record with the model name and version that answered."""
        served = self.served
        values = [tuple(record.__dict__.values()) for record in records]  # the features, in the schema's order
        labels, probabilities = served.predict_rows(values)
        labels = labels.tolist()  # Python values (numpy scalars would cost a conversion each, twice)
        by_class = probabilities.tolist() if probabilities is not None else None
        answers = []
        rows = []
        created = database.now()
        kept: dict[str, bool] = {}
        request_id, position = "", 0
        for i, record in enumerate(records):
            if (starts := FIRST_RECORDS.pop(id(record), None)) is not None:
                request_id, position = starts, 0
            else:
                position += 1
            probs = dict(zip(self.classes, by_class[i], strict=True)) if by_class is not None else None
            answers.append(
                {
                    "prediction": labels[i],
                    "probabilities": probs,
                    "model_name": served.name,
                    "model_version": served.version,
                    "request_id": request_id,
                    "id": store.prediction_id(request_id, position),
                }
            )
            if request_id not in kept:  # the whole request is kept or not
                kept[request_id] = self.keep_features >= 1 or random.random() < self.keep_features
            rows.append(
                {
                    "source": database.ONLINE,
                    "request_id": request_id,
                    "row_index": position,  # the position is the key (the scored view shows it)
                    "created_at": created,
                    "model_name": served.name,
                    "model_version": served.version,
                    "inputs": dict(zip(NAMES, values[i], strict=True)) if kept[request_id] else None,  # finite
                    "prediction": labels[i],
                    "probabilities": probs,
                }
            )
        commit = self.writer.submit(rows)  # Acknowledge holds each answer until this commit is done
        for request_id in kept:
            PENDING[request_id] = commit
        commit.add_done_callback(functools.partial(_forget, list(kept)))
        # BentoML validates the answers into Prediction (in pydantic's core: half the time of building them here)
        return cast("list[Prediction]", answers)

    @bentoml.api(input_spec=FeedbackRequest)
    def feedback(self, items: list[FeedbackItem]) -> FeedbackResult:
        """True labels for served predictions (online ids from /predict, batch rows as ``<batch id>:<row key>``)."""
        from .. import feedback

        labels, problems = feedback.check_labels(
            [(item.id, item.label) for item in items], self.served.schema, strict=True
        )
        if problems:
            raise bentoml.exceptions.InvalidArgument("; ".join(problems))
        try:  # an answered prediction is already stored: an unknown id is unknown
            counts = store.record_feedback(self.engine, labels)
        except store.UnknownPredictions as error:
            raise bentoml.exceptions.NotFound(str(error)) from None
        return FeedbackResult(**counts)

    @bentoml.on_shutdown
    def flush(self) -> None:
        """Write every queued prediction before the process exits."""
        self._stopping.set()
        self.writer.close()
        log.info("serving layer: %d prediction(s) written; %s", self.written, self.writer.timings())


def _forget(request_ids: list[str], commit: Future[None]) -> None:
    """A committed request needs no ticket any more (a failed one keeps it, so its answer becomes a 503)."""
    if commit.exception() is None:
        for request_id in request_ids:
            PENDING.pop(request_id, None)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _document() -> dict[str, Any]:
    meta = STORED.info.metadata
    name, number = str(meta["registered_model"]), str(meta["registered_version"])
    version = f"{name} v{number} (registry champion at start)"
    document = openapi_document(SERVICE.openapi_spec.asdict(), version, example_request())
    document["info"]["x-model-runtime"] = serving.planned_runtime(STORED)  # onnxruntime | scikit-learn
    return document


# mypy does not apply class decorators (python/mypy#3135): bentoml.service has made Predictor a bentoml.Service.
SERVICE = cast("bentoml.Service[Predictor]", Predictor)
SERVICE.add_asgi_middleware(Acknowledge)
SERVICE.add_asgi_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
SERVICE.add_asgi_middleware(DocsPage, title=f"{CONFIG.tracking.model_name} prediction service", document=_document)
# BentoML 1.4 works out a JSON answer's media type from the output type's JSON schema, built anew for every response
# (a fifth of a worker's samples at 16 clients, measured with py-spy): the answers are JSON, said once here.
for api in SERVICE.apis.values():
    if api.output_spec.mime_type() == "application/json":
        api.output_spec.media_type = "application/json"
# And it writes an answer as model_dump (Python objects) handed to json.dumps: pydantic writes the same JSON itself
# from the Prediction objects, in a third of the time (py-spy, 100-row requests).
ANSWERS = TypeAdapter(list[Prediction])
SERVICE.apis["predict"].output_spec.model_dump_json = lambda self, **_: ANSWERS.dump_json(self.root).decode()
