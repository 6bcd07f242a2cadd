"""ONNX for the auto search's ensemble (training/ensemble.py): a VotingClassifier (soft) or VotingRegressor whose
members are whole pipelines, each with its own preprocessing.

skl2onnx's own Voting converters look each member up by its estimator type, and a Pipeline has none (skl2onnx
parses a pipeline, it does not convert one): an ensemble of pipelines fails there with a KeyError. ``register``
gives the two Voting types a parser that parses each member pipeline on the model's inputs (as convert_sklearn
parses a pipeline at the top) and one operator that averages the members' probabilities (or predictions) with the
ensemble's weights, as scikit-learn's soft vote does; the label is the class of the most probable column.
onnx_export checks its parity with scikit-learn like any model's. It replaces skl2onnx's Voting parsers for the
process: the project converts no other Voting model.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

CLASSIFIER = "ProjectSoftVotingClassifier"
REGRESSOR = "ProjectVotingRegressor"


def weights(model: Any) -> np.ndarray:
    """Each member's share of the vote (scikit-learn's np.average over the members with ``weights``)."""
    given = np.ones(len(model.estimators_)) if model.weights is None else np.asarray(model.weights, dtype="float64")
    return (given / given.sum()).astype(np.float32)


def _classes(model: Any) -> np.ndarray:
    classes = np.asarray(model.classes_)
    return classes.astype(object) if classes.dtype.kind in "OUS" else classes.astype(np.int64)


def _label_type(model: Any) -> Any:
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    return StringTensorType if _classes(model).dtype == object else Int64TensorType


def _parse(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    """Each member parsed on the model's inputs, then one averaging operator over their probabilities (column 1 of
    a classifier's outputs; each member's final step has zipmap off: onnx_export's options) or predictions."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    classifier = hasattr(model, "classes_")
    parts = []
    for member in model.estimators_:
        outputs = _parse_sklearn(scope, member, inputs, custom_parsers=custom_parsers)
        parts.append(outputs[1] if classifier else outputs[0])
    operator = scope.declare_local_operator(CLASSIFIER if classifier else REGRESSOR, model)
    operator.inputs = parts
    if classifier:
        operator.outputs.append(scope.declare_local_variable("label", _label_type(model)()))
        operator.outputs.append(scope.declare_local_variable("probabilities", FloatTensorType()))
    else:
        operator.outputs.append(scope.declare_local_variable("variable", FloatTensorType()))
    return list(operator.outputs)


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    rows = operator.inputs[0].get_first_dimension()
    model = operator.raw_operator
    if operator.type == CLASSIFIER:
        operator.outputs[0].type = _label_type(model)([rows])
        operator.outputs[1].type = FloatTensorType([rows, len(model.classes_)])
    else:
        operator.outputs[0].type = FloatTensorType([rows, 1])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    """The weighted sum of the members' outputs; a classifier's label is ``classes_[argmax]`` of it."""
    from skl2onnx.algebra.onnx_ops import OnnxArgMax, OnnxGather, OnnxIdentity, OnnxMul, OnnxSum

    model, version = operator.raw_operator, container.target_opset
    terms = [
        OnnxMul(part, np.array([share], dtype=np.float32), op_version=version)
        for part, share in zip(operator.inputs, weights(model), strict=True)
    ]
    total = OnnxSum(*terms, op_version=version)
    if operator.type == REGRESSOR:
        OnnxIdentity(total, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)
        return
    best = OnnxArgMax(total, axis=1, keepdims=0, op_version=version)
    OnnxGather(_classes(model), best, op_version=version, output_names=operator.outputs[:1]).add_to(scope, container)
    OnnxIdentity(total, op_version=version, output_names=operator.outputs[1:]).add_to(scope, container)


@functools.cache
def register() -> None:
    """Teach skl2onnx the ensembles of pipelines (once per process)."""
    from skl2onnx import update_registered_converter
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    update_registered_converter(VotingClassifier, CLASSIFIER, _shapes, _convert, parser=_parse)
    update_registered_converter(VotingRegressor, REGRESSOR, _shapes, _convert, parser=_parse)
