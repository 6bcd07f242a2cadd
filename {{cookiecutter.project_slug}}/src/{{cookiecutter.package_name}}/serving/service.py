"""Real-time serving (hot path): the champion behind ``POST /predict``, every answer logged to the serving layer.

``make serve`` imports the registry's `champion` into the project's BentoML store and starts this service on
127.0.0.1:3000 (``make serve PORT=8080``). The request schema is built from the served model's own feature
schema when this module is imported, so it is typed (and shown on the docs page at / and /docs, spec at
/docs.json, with a made-up example record, never a training row) without templating.

- ``POST /predict`` ``{"records": [{feature: value, ...}, ...]}`` (1..MAX_RECORDS records) returns one answer
  per record: prediction, class probabilities (classification), model name and version, request id.
  Adaptive batching merges concurrent requests into one model call.
- Bad input is a 4xx with a JSON body naming the field and the problem, never a 500: missing or unknown
  fields, wrong types, NaN/infinity, an empty list, a body that is not JSON (400), a body over MAX_BODY_BYTES (413).
- Each answer carries ``id``, the prediction's stable id (``<request id>:<position>``); ``POST /feedback``
  ``{"items": [{"id": ..., "label": ...}, ...]}`` with ``Authorization: Bearer <FEEDBACK_TOKEN>`` stores the true
  labels (ground truth) in the serving layer's `feedback` table, one per prediction, with the token's fingerprint
  as sender (a resend never counts twice; a different label is kept as a conflict, not written over the first).
  Without FEEDBACK_TOKEN the endpoint is disabled (403), never open (serving/credentials.py). Online predictions
  only: a batch row's id is answered like an id that does not exist (batch rows are labelled by `make feedback`).
  An unknown id or a label of the wrong type or class is a 4xx naming each offending id; nothing of that call is
  stored.
- ``GET /metrics`` (Prometheus) answers this machine only, or a scraper with METRICS_TOKEN.
- ``GET /livez``, ``/readyz`` (BentoML's): liveness and readiness.
- Acknowledged means stored: an answer leaves only once its rows are committed to the serving layer
  (``Acknowledge`` holds it; predictions/writer.py commits everything queued in one transaction, so concurrent requests
  share a commit), while the worker already scores the next batch. A SIGKILL loses no answered prediction;
  SIGTERM / Ctrl+C stops accepting, lets the requests in flight finish (answered and stored), then exits.
- A 4xx costs one access-log line (the detail is logged at debug level), never a traceback.
- A new champion is served without a restart: with SERVING_FOLLOW_CHAMPION=SECONDS (``make serve`` sets 30), a
  thread asks the registry that often; a new `champion` is imported, loaded and swapped in between two batches,
  so no request fails. A champion with another feature schema needs a restart (the request schema is typed
  from it): the service says so in its log and keeps serving the version it has.
"""

from __future__ import annotations

import fcntl
import functools
import gc
import logging
import os
import random
import threading
import uuid
import weakref
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import bentoml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from ..core import config, environment
from ..core.errors import UserError
from ..core.gate import schema_change
from ..predictions import database, store, writer
from ..predictions.labels import check_labels
from . import credentials
from .asgi import MAX_BODY_BYTES, PENDING, TICKET, Acknowledge, BodyLimit, forget, quiet_client_errors
from .champion import import_champion, store_name
from .docs_page import DocsPage, example_request, openapi_document
from .model import check_files, load, planned_runtime, stored_schema
from .records import (
    FIRST_RECORDS,
    MAX_RECORDS,
    FeedbackItem,
    FeedbackRequest,
    FeedbackResult,
    RecordBase,
    prediction_model,
    record_model,
)

log = logging.getLogger(__name__)
# The package's own INFO lines (which runtime serves the model, champion swaps) reach BentoML's log
logging.getLogger(__package__.split(".")[0]).setLevel(logging.INFO)
BATCH_SIZE = 512  # records in one model call (adaptive batching merges requests up to this)
BATCH_LATENCY_MS = 30_000  # a request waits at most this long for its batch before a 503 (overload only)
HOME = environment.configure()  # the BentoML store (the project's .bentoml/ unless BENTOML_HOME says otherwise)
WRITE_RETRY_S = 10.0  # a failed commit is retried this long (the database restarting) before the requests get 503
WORKERS = int(os.environ.get("SERVING_WORKERS") or 2)  # processes, each with its model and adaptive batching

CONFIG = config.load()
FEEDBACK_TOKENS = credentials.Tokens.from_env("FEEDBACK_TOKEN")  # none: POST /feedback is disabled
METRICS_TOKENS = credentials.Tokens.from_env("METRICS_TOKEN")  # none: /metrics answers this machine only
MODEL_TAG = f"{store_name(CONFIG.tracking.model_name)}:latest"
try:
    STORED = bentoml.models.get(MODEL_TAG)
except bentoml.exceptions.NotFound:
    raise UserError(
        f"{MODEL_TAG} is not in the BentoML store: run `python -m {__package__.split('.')[0]} import-model` "
        "(make serve does) with the same BENTOML_HOME"
    ) from None
check_files(STORED)  # also when `bentoml build` imports this module: a changed file never goes into a Bento
SCHEMA = stored_schema(STORED)


# The request's record type is built from the champion's schema at import; to the type checker it is a RecordBase.
if TYPE_CHECKING:
    Record = RecordBase
else:
    Record = record_model(SCHEMA)
# Built from the champion's label type at import; to the type checker a pydantic model like any other.
if TYPE_CHECKING:
    Prediction = BaseModel
else:
    Prediction = prediction_model(SCHEMA)
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


def settle_heap() -> None:
    """Move what is loaded by now (libraries, the model) out of the garbage collector's sight.

    Measured under load at 16 concurrent clients: a full collection walks every object the imports and the model
    left behind, which stopped a worker for 0.4 to 0.55 s a few times per 20 s, the p99 of every request in flight.
    Frozen objects are never scanned again, so a full collection only walks what requests allocate. Called again
    after a champion swap: unfrozen first, so the replaced model can be collected (one full pass, once)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@bentoml.service(
    name=store_name(CONFIG.tracking.model_name),
    workers=WORKERS,
    traffic={"timeout": 60, "max_concurrency": 512},
    http={"cors": {"enabled": False}},
)
class Predictor:
    """The registry's champion, served with adaptive batching; every prediction goes to the serving layer."""

    bento_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.served = load(self.bento_model)
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
                    stored = import_champion(CONFIG)
            except Exception as error:  # the registry is unreachable or has no champion: keep serving
                log.warning(
                    "could not check the registry's champion (%s); still serving v%s", error, self.served.version
                )
                continue
            version = stored.info.metadata["registered_version"]
            if version in (self.served.version, refused):
                continue
            candidate = load(stored)
            if candidate.schema != self.served.schema:
                refused = version
                change = schema_change(self.served.schema, candidate.schema)
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
        commit.add_done_callback(functools.partial(forget, list(kept)))
        # BentoML validates the answers into Prediction (in pydantic's core: half the time of building them here)
        return cast("list[Prediction]", answers)

    @bentoml.api(input_spec=FeedbackRequest)
    def feedback(self, items: list[FeedbackItem], ctx: bentoml.Context) -> FeedbackResult:
        """True labels for served predictions (the ids /predict answered), with the feedback token."""
        sender = FEEDBACK_TOKENS.sender(ctx.request.headers.get("authorization"))
        if sender is None:  # credentials.Guard refuses these before the body is read; never stored without a token
            raise bentoml.exceptions.BentoMLException(credentials.FEEDBACK_HELP, error_code=HTTPStatus.UNAUTHORIZED)
        labels, problems = check_labels([(item.id, item.label) for item in items], self.served.schema, strict=True)
        if problems:
            raise bentoml.exceptions.InvalidArgument("; ".join(problems))
        try:  # an answered prediction is already stored: an unknown id is unknown, and so is a batch row's
            counts = store.record_feedback(
                self.engine, labels, source=database.LABEL_HTTP, sender=sender, sources=(database.ONLINE,)
            )
        except store.UnknownPredictions as error:
            raise bentoml.exceptions.NotFound(str(error)) from None
        return FeedbackResult(**counts)

    @bentoml.on_shutdown
    def flush(self) -> None:
        """Write every queued prediction before the process exits."""
        self._stopping.set()
        self.writer.close()
        log.info("serving layer: %d prediction(s) written; %s", self.written, self.writer.timings())


def _document() -> dict[str, Any]:
    meta = STORED.info.metadata
    name, number = str(meta["registered_model"]), str(meta["registered_version"])
    version = f"{name} v{number} (registry champion at start)"
    document = openapi_document(SERVICE.openapi_spec.asdict(), version, example_request(STORED))
    document["info"]["x-model-runtime"] = planned_runtime(STORED)  # onnxruntime | scikit-learn
    return document


# mypy does not apply class decorators (python/mypy#3135): bentoml.service has made Predictor a bentoml.Service.
SERVICE = cast("bentoml.Service[Predictor]", Predictor)
SERVICE.add_asgi_middleware(credentials.Guard, feedback=FEEDBACK_TOKENS, metrics=METRICS_TOKENS)
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
