"""The champion's fast path and edge artifact: the whole fitted pipeline (preprocessing included) as ONNX, checked
against scikit-learn on the holdout before anything serves it.

register calls ``export_checked``: skl2onnx converts the pipeline (one ONNX input per feature, ``[N, 1]``, float32 for
numbers and string for categories, in the schema's order), onnxruntime runs it on the holdout rows, and the result is
compared with the scikit-learn pipeline's own answers, labels from the probabilities by the schema's decision rule
(its tuned threshold included, core/decision.py) on both sides. Parity holds when every label is equal and every probability
(classification) is within ``PROBABILITY_TOLERANCE``, or every value (regression) within ``REGRESSION_TOLERANCE``
relative to its size (at least 1, so small values are held to the absolute tolerance). The float32 inputs are why
there is a tolerance at all: ONNX's imputer works on float32, scikit-learn on float64.

XGBoost (the ``gpu`` extra) converts with onnxmltools' XGBoost converter, registered with skl2onnx only when the
model has an XGBoost step (``_register_xgboost``), so a project without xgboost imports nothing more; the label
encoder around the classifier (models.EncodedLabels) becomes a Gather of its classes. Its pipeline does not scale
numbers (models.Family.scale_inputs): XGBoost's split thresholds are training values, so a scaled value computed in
float32 by ONNX instead of float64 by scikit-learn lands on the other side of one and parity fails.

A family that does not convert (no converter: DummyClassifier; XGBoost without onnxmltools), a pipeline with a
datetime feature (onnxruntime parses no dates: training/calendar.py), or one whose parity fails is served by
scikit-learn; the reason is one log line and a tag on the registered version. High-cardinality columns convert
(scikit-learn's TargetEncoder has a skl2onnx converter).

Missing categories: ONNX has no missing value in a string tensor, so a missing category is fed as the empty string
(``MISSING_TEXT``), and the exported copy of each categorical imputer treats that as missing. The scikit-learn model
itself is not changed.
"""

from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.metrics import TASKS
from ..core.schema import Schema

log = logging.getLogger(__name__)

# The operator sets the model is written for: ONNX 17 and its classic-ML domain 3 (TreeEnsemble*, Imputer,
# OneHotEncoder, LinearClassifier), both run by onnxruntime >= 1.12 and by most edge runtimes.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
PROBABILITY_TOLERANCE = 1e-4  # absolute, per class probability
REGRESSION_TOLERANCE = 1e-4  # relative to max(1, |value|)
MISSING_TEXT = ""  # how a missing category reaches the ONNX model


class NotConvertible(Exception):
    """The pipeline has a step that skl2onnx cannot convert (or converts into a model onnxruntime cannot run)."""


@dataclass(frozen=True)
class Parity:
    """How the ONNX model's answers compare with scikit-learn's on the same rows."""

    held: bool
    rows: int
    labels_equal: bool
    max_difference: float  # largest probability (classification) or value (regression) difference
    tolerance: float
    detail: str

    def tags(self) -> dict[str, str]:
        return {
            "onnx.parity": "held" if self.held else "failed",
            "onnx.parity.detail": self.detail,
        }

    def metrics(self) -> dict[str, float]:
        return {
            "onnx_parity_max_difference": self.max_difference,
            "onnx_parity_labels_equal": float(self.labels_equal),
            "onnx_parity_rows": float(self.rows),
        }


@dataclass(frozen=True)
class Export:
    """The outcome of an export: the ONNX model (None when the family does not convert) and its parity check."""

    onnx: Any  # onnx.ModelProto | None
    parity: Parity | None
    reason: str  # why it is not served by onnxruntime; "" when parity held

    @property
    def usable(self) -> bool:
        return self.onnx is not None and self.parity is not None and self.parity.held


def _text_imputers(model: Any) -> list[Any]:
    """Every fitted SimpleImputer of the pipeline (or of each member of an ensemble) that imputes text columns."""
    from sklearn.impute import SimpleImputer

    from .models import members

    found, stack = [], members(model)
    while stack:
        step = stack.pop()
        if isinstance(step, SimpleImputer):
            if getattr(step, "statistics_", np.empty(0)).dtype == object:
                found.append(step)
            continue
        stack.extend(getattr(step, "named_steps", {}).values())
        stack.extend(transformer for _, transformer, _ in getattr(step, "transformers_", []))
    return found


def _input_types(schema: Schema) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    return [
        (f.name, FloatTensorType([None, 1]) if f.kind == "numeric" else StringTensorType([None, 1]))
        for f in schema.features
    ]


def _tree_flags_as_ints() -> None:
    """skl2onnx 1.20 writes a tree leaf's missing-value flag as a Python bool, which protobuf refuses in an integer
    list ("Expected an int, got a boolean"): every HistGradientBoosting model failed to convert. Pass it as the int
    it stands for (the ONNX attribute is 0/1). Parity is still checked on every export."""
    from skl2onnx.common import tree_ensemble

    add_node = getattr(tree_ensemble, "add_node", None)
    if add_node is None or getattr(add_node, "flags_as_ints", False):
        return

    @functools.wraps(add_node)
    def with_int_flags(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        return add_node(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    with_int_flags.flags_as_ints = True  # type: ignore[attr-defined]
    tree_ensemble.add_node = with_int_flags


def _finals(model: Any) -> list[Any]:
    """The last step of the pipeline, or of each member of an ensemble (models.members)."""
    from .models import members

    return [member.steps[-1][1] if hasattr(member, "steps") else member for member in members(model)]


def _xgboost_steps(model: Any) -> list[Any]:
    """The XGBoost estimators in ``model`` (a Pipeline's last step, bare or inside EncodedLabels; an ensemble's)."""
    candidates = [e for final in _finals(model) for e in (final, getattr(final, "estimator_", None))]
    return [e for e in candidates if e is not None and type(e).__module__.startswith("xgboost")]


def _convert_encoded_labels(scope: Any, operator: Any, container: Any) -> None:
    """models.EncodedLabels: its estimator's converter on the label codes, then the labels by the most probable class
    (``classes_[argmax]``, as the label encoder answers); the probabilities are the estimator's, in ``classes_`` order."""
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxArgMax, OnnxGather, OnnxIdentity

    wrapper, version = operator.raw_operator, container.target_opset
    inner = OnnxSubEstimator(wrapper.estimator_, operator.inputs[0], op_version=version, options={"zipmap": False})
    classes = np.asarray(wrapper.classes_)
    classes = classes.astype(object) if classes.dtype.kind in "OUS" else classes.astype(np.int64)
    best = OnnxArgMax(inner[1], axis=1, keepdims=0, op_version=version)
    OnnxGather(classes, best, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)
    OnnxIdentity(inner[1], op_version=version, output_names=operator.outputs[1:]).add_to(scope, container)


@functools.cache
def _register_xgboost() -> None:
    """Teach skl2onnx XGBClassifier, XGBRegressor (onnxmltools' converter) and EncodedLabels; NotConvertible without
    onnxmltools. Called only for a model with an XGBoost step: a project without xgboost never imports these."""
    try:
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    except ImportError as error:
        raise NotConvertible(f"XGBoost converts to ONNX with onnxmltools, which is not installed ({error})") from error
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    from .models import EncodedLabels

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    update_registered_converter(
        xgboost.XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        convert_xgboost,
        options=classifier_options,
    )
    update_registered_converter(
        xgboost.XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost
    )
    update_registered_converter(
        EncodedLabels,
        "ProjectEncodedLabels",
        calculate_linear_classifier_output_shapes,
        _convert_encoded_labels,
        options=classifier_options,
    )


def export(model: Any, schema: Schema) -> Any:
    """The fitted pipeline as an ONNX model (an ``onnx.ModelProto``); NotConvertible when a step does not convert.

    The conversion works on a copy whose text imputers take ``MISSING_TEXT`` as missing (skl2onnx only converts a
    string imputer whose missing value is a string); the fitted statistics are the same.
    """
    if dates := schema.of_kind("datetime"):
        raise NotConvertible(
            f"the datetime feature(s) {', '.join(dates)} become calendar features, and onnxruntime reads no dates"
        )
    try:
        from skl2onnx import convert_sklearn
    except ImportError as error:
        raise NotConvertible(f"skl2onnx is not installed ({error})") from error
    from . import onnx_voting
    from .models import is_ensemble, unwrap  # scikit-learn's estimators: serving, importing this module, does without

    _tree_flags_as_ints()
    model = unwrap(model)  # the pipeline: its threshold is applied to the probabilities after (core/decision.py)
    if _xgboost_steps(model):
        _register_xgboost()
    if is_ensemble(model):
        onnx_voting.register()
    ready = copy.deepcopy(model)
    for imputer in _text_imputers(ready):
        imputer.missing_values = MISSING_TEXT
    finals = _finals(ready)
    options = {id(final): {"zipmap": False} for final in finals} if TASKS[schema.task].has_classes else None
    try:
        return convert_sklearn(ready, initial_types=_input_types(schema), target_opset=TARGET_OPSET, options=options)
    except Exception as error:  # skl2onnx raises many kinds (MissingShapeCalculator, RuntimeError, ValueError ...)
        kind = type(finals[0] if len(finals) == 1 else ready).__name__
        raise NotConvertible(
            f"{kind} does not convert to ONNX ({type(error).__name__}: {_first_line(error)})"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


def sklearn_answers(model: Any, frame: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    """Labels (the schema's decision rule) and probabilities (classification) or values twice (regression) of the
    scikit-learn pipeline."""
    if TASKS[schema.task].has_classes:
        probabilities = model.predict_proba(frame)
        return schema.labels(probabilities), probabilities
    values = np.asarray(model.predict(frame), dtype="float64")
    return values, values


def session(onnx_bytes: bytes) -> Any:
    """An onnxruntime session on one thread: a served model answers small batches, where threads cost more than
    they bring (the service runs one process per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def feed(session: Any, columns: dict[str, np.ndarray], schema: Schema) -> dict[str, np.ndarray]:
    """The model's inputs from one array per feature (missing numbers NaN, missing categories None/NaN or "").

    The ONNX inputs are in the schema's order (skl2onnx may rename a column, e.g. spaces to underscores)."""
    inputs = {}
    for spec, feature in zip(session.get_inputs(), schema.features, strict=True):
        column = columns[feature.name]
        if feature.kind == "numeric":
            inputs[spec.name] = np.asarray(column, dtype=np.float32).reshape(-1, 1)
        else:
            text = np.asarray(column, dtype=object)
            missing = pd.isna(text)
            if missing.any():
                text = np.where(missing, MISSING_TEXT, text)
            inputs[spec.name] = text.reshape(-1, 1)
    return inputs


def outputs(session: Any, columns: dict[str, np.ndarray], schema: Schema) -> np.ndarray:
    """The class probabilities (classification; columns in the schema's ``classes`` order) or the predicted values
    (regression), as float64. The ONNX model's own `label` output (the most probable class) is not read: labels
    come from the probabilities by the schema's decision rule (core/decision.py), its threshold included."""
    found = session.run(None, feed(session, columns, schema))
    if TASKS[schema.task].has_classes:
        return np.asarray(found[1], dtype="float64")
    return np.asarray(found[0], dtype="float64").reshape(-1)


def answers(session: Any, columns: dict[str, np.ndarray], schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities (classification), or the predicted values twice (regression)."""
    found = outputs(session, columns, schema)
    return (schema.labels(found), found) if TASKS[schema.task].has_classes else (found, found)


def check_parity(model: Any, onnx_model: Any, frame: pd.DataFrame, schema: Schema) -> Parity:
    """Run the ONNX model with onnxruntime on ``frame`` (conformed rows) and compare it with ``model``."""
    try:
        labels, found = answers(
            session(onnx_model.SerializeToString()), {n: frame[n].to_numpy() for n in schema.names}, schema
        )
    except Exception as error:  # onnxruntime cannot build or run it (an operator it lacks)
        raise NotConvertible(f"onnxruntime cannot run the exported model: {_first_line(error)}") from error
    expected_labels, expected = sklearn_answers(model, frame, schema)
    rows = len(frame)
    if rows == 0:
        return Parity(False, 0, False, float("nan"), 0.0, "no holdout rows to check parity on")
    if TASKS[schema.task].has_classes:
        labels_equal = bool(np.array_equal(labels.astype(object), expected_labels.astype(object)))
        difference = float(np.max(np.abs(found - expected)))
        tolerance = PROBABILITY_TOLERANCE
        held = labels_equal and difference <= tolerance
        agreement = "labels equal" if labels_equal else f"{int(np.sum(labels != expected_labels))} label(s) differ"
        detail = (
            f"{rows} holdout rows: {agreement}, max probability difference {difference:.2g} (tolerance {tolerance:g})"
        )
    else:
        labels_equal = True
        difference = float(np.max(np.abs(found - expected)))
        tolerance = REGRESSION_TOLERANCE
        held = bool(np.all(np.abs(found - expected) <= tolerance * np.maximum(1.0, np.abs(expected))))
        detail = (
            f"{rows} holdout rows: max value difference {difference:.2g} (tolerance {tolerance:g} x max(1, |value|))"
        )
    return Parity(held, rows, labels_equal, difference, tolerance, detail)


def export_checked(model: Any, schema: Schema, holdout: pd.DataFrame) -> Export:
    """Export ``model`` and check it on ``holdout`` (conformed rows); never raises for a model that does not fit."""
    try:
        onnx_model = export(model, schema)
        parity = check_parity(model, onnx_model, holdout, schema)
    except NotConvertible as error:
        log.info("ONNX: not exported, serving stays on scikit-learn: %s", error)
        return Export(None, None, str(error))
    if not parity.held:
        log.info("ONNX: parity failed, serving stays on scikit-learn: %s", parity.detail)
        return Export(onnx_model, parity, f"parity failed: {parity.detail}")
    log.info("ONNX: exported, parity held (%s)", parity.detail)
    return Export(onnx_model, parity, "")
