"""The champion's metadata in the BentoML store: every feature schema, the ones without a positive class or a
threshold too (a regressor, a multi-class model, `train.threshold: none`), is accepted and read back as it was."""

from __future__ import annotations

from pathlib import Path

import bentoml
import pytest
from mlflow.entities.model_registry import ModelVersion

from {{ cookiecutter.package_name }}.core.decision import Threshold
from {{ cookiecutter.package_name }}.core.schema import Feature, Schema
from {{ cookiecutter.package_name }}.serving import stored_schema
from {{ cookiecutter.package_name }}.serving.champion import _metadata as champion_metadata

FEATURES = (
    Feature(name="tenure_months", kind="numeric", dtype="int64"),
    Feature(name="plan", kind="categorical", dtype="object"),
)
SCHEMAS = {
    "regression": Schema(target="fee", task="regression", features=FEATURES),
    "multi-class": Schema(target="plan", task="classification", features=FEATURES, classes=("a", "b", "c")),
    "binary, threshold none": Schema(
        target="churned",
        task="classification",
        features=FEATURES,
        classes=("No", "Yes"),
        positive_class="Yes",
        positive_share=0.03,
    ),
    "binary, tuned": Schema(
        target="churned",
        task="classification",
        features=FEATURES,
        classes=("No", "Yes"),
        positive_class="Yes",
        positive_share=0.03,
        threshold=Threshold(value=0.31, objective="f1"),
    ),
}


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_every_schema_is_stored_and_read_back(kind: str, bentoml_home: Path) -> None:
    # given a registered version and the feature schema of a kind of model
    schema = SCHEMAS[kind]
    version = ModelVersion(name="churn", version="3", creation_timestamp=0, run_id="run")
    # when the champion's metadata is stored in BentoML's store (what import_champion does)
    tag = bentoml.Tag("metadata-check", kind.replace(" ", "-").replace(",", ""))
    with bentoml.models.create(tag, metadata=champion_metadata(schema, version, "models:/m-1")):
        pass
    # then BentoML accepts it and the served schema is the schema
    assert stored_schema(bentoml.models.get(tag)) == schema
