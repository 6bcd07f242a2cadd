"""The service's request and answer bodies (pydantic): a record typed from the served model's feature schema, the
answer typed from its labels, and the feedback bodies.

The record and answer types are built from the champion's schema when the service starts (service.py), so the
docs page shows real field names and types. Each request's first record is filed in ``FIRST_RECORDS`` under the
request's id: ``predict`` reads every record's request and position from that.
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    create_model,
    model_validator,
)

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


# A number is a JSON number (true, "1" are refused, as the spec says), finite
NUMBER = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def record_model(schema: Schema) -> type[RecordBase]:
    """A pydantic model with one required field per training feature: finite numbers or text, null for missing."""
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        kind = NUMBER if feature.kind == "numeric" else Annotated[str, Field(strict=True)]
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
        probabilities=(
            dict[str, float | None] | None,
            Field(
                None,
                description="class -> probability (classification); null where the model's arithmetic overflowed "
                "(features far outside the training range)",
            ),
        ),
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

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_id(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A bad label's problem names its prediction id (which item of a long list is wrong)."""
        try:
            return handler(data)
        except ValidationError as error:
            if not (isinstance(data, dict) and isinstance(data.get("id"), str)):
                raise
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ValueError(f"id {data['id']!r}: {problems}") from None


class FeedbackRequest(BaseModel):
    """The body of POST /feedback."""

    model_config = ConfigDict(extra="forbid")
    items: list[FeedbackItem] = Field(min_length=1, max_length=MAX_RECORDS)


ID_PATTERN = r"^[^:]+:.+$"  # <request or batch id>:<row key> (store.prediction_id)


def true_label_type(schema: Schema) -> Any:
    """A true label as the spec states it: one of the classes, of their own JSON type (classification), or a
    finite number (regression): what predictions/labels.check_label accepts from JSON."""
    if not TASKS[schema.task].has_classes:
        return NUMBER
    classes = list(schema.classes)
    kind = label_type(schema)
    if kind is Any:
        return Any

    def known(value: Any) -> Any:
        if value not in classes:
            raise ValueError(f"not one of the classes {classes}")
        return value

    return Annotated[kind, Field(strict=True, json_schema_extra={"enum": classes}), AfterValidator(known)]


def feedback_model(schema: Schema) -> type[FeedbackRequest]:
    """The body of POST /feedback with each label typed by the served model (its classes, or a number)."""
    item = create_model(
        "FeedbackItem",
        __base__=FeedbackItem,
        id=(str, Field(min_length=3, max_length=512, pattern=ID_PATTERN)),
        label=(true_label_type(schema), Field(description="the true class (classification) or value (regression)")),
    )
    return create_model(
        "FeedbackRequest",
        __base__=FeedbackRequest,
        items=(cast(Any, list)[item], Field(min_length=1, max_length=MAX_RECORDS)),
    )


class FeedbackResult(BaseModel):
    """What became of the labels: stored (new), already stored (repeated), or contradicting a stored label (kept
    apart as conflicts: the prediction is left out of live metrics and harvest)."""

    received: int
    new: int
    repeated: int
    conflicts: int
