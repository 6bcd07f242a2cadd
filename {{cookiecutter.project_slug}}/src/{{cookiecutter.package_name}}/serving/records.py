"""The service's request and answer bodies (pydantic): a record typed from the served model's feature schema, the
answer typed from its labels, and the feedback bodies.

The record and answer types are built from the champion's schema when the service starts (service.py), so the
docs page shows real field names and types. Each request's first record is filed in ``FIRST_RECORDS`` under the
request's id: ``predict`` reads every record's request and position from that.
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..core.metrics import TASKS
from ..core.schema import Schema

MAX_RECORDS = 10_000  # records in one request
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


def record_model(schema: Schema) -> type[RecordBase]:
    """A pydantic model with one required field per training feature: finite numbers or text."""
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        kind = Annotated[float, Field(allow_inf_nan=False)] if feature.kind == "numeric" else str
        fields[_field_name(feature.name, position)] = (kind | None, Field(..., alias=feature.name))
    return create_model("Record", __base__=RecordBase, **fields)


def label_type(schema: Schema) -> Any:
    if not TASKS[schema.task].has_classes:
        return float
    kinds = {type(c) for c in schema.classes}
    return kinds.pop() if len(kinds) == 1 and kinds <= {int, str, bool, float} else Any


def prediction_model(schema: Schema) -> type[BaseModel]:
    """One answer of POST /predict, its prediction typed as the model's labels."""
    return create_model(
        "Prediction",
        prediction=(label_type(schema), ...),
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
    """What became of the labels: stored (new), already stored (repeated), or contradicting a stored label (kept
    apart as conflicts: the prediction is left out of live metrics and harvest)."""

    received: int
    new: int
    repeated: int
    conflicts: int
