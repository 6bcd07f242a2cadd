"""The champion's tuned threshold is one rule: the same rows get the same labels from the logged scikit-learn model's
own predict, from onnxruntime on its ONNX export, on the service's path (validated records, no DataFrame, over
HTTP in the slow test) and in a batch job's stored rows, with the same stored probabilities."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.predictions import database
from {{ cookiecutter.package_name }}.serving import batch
from {{ cookiecutter.package_name }}.serving.records import record_model
from {{ cookiecutter.package_name }}.training import features, onnx_export


def customers() -> pd.DataFrame:
    """Customers over the fixture's ranges (every plan and region, missing ones too): probabilities from near 0 to
    near 1, so some rows lie between the tuned threshold and 0.5."""
    grid = itertools.product(
        ["basic", "pro", "enterprise"],
        ["north", "south", "east", "west", None],
        [1, 6, 12, 24, 36, 48, 60, 72],
        [20.0, 50.0, 80.0, 110.0, 140.0, None],
        [0, 1, 2, 3, 4, 5, 6],
    )
    columns = ["plan", "region", "tenure_months", "monthly_fee", "support_calls"]
    return pd.DataFrame(list(grid), columns=columns)


@pytest.fixture
def parity(in_trained: Path, champion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The trained project's champion (served on onnxruntime and on scikit-learn), the rows as a file, a database."""
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_path / 'serving.db'}")
    cfg = config.load("params.yaml")
    fast, slow = serving.load(champion), serving.load(champion, runtime="scikit-learn")
    rows = customers()
    path = tmp_path / "customers.parquet"
    rows.to_parquet(path)
    return cfg, fast, slow, rows, path


def stored(cfg: config.Config, batch_id: str) -> tuple[list, list]:
    """A batch's predictions and probabilities in row order, read through the `scored` view."""
    engine = database.connect(cfg.serving.resolved_db_url)
    query = (
        select(database.scored.c.prediction, database.scored.c.probabilities)
        .where(database.scored.c.request_id == batch_id)
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        found = connection.execute(query).all()
    return [r[0] for r in found], [r[1] for r in found]


def test_every_runtime_applies_the_tuned_threshold_alike(parity) -> None:
    cfg, fast, slow, rows, path = parity
    schema = fast.schema
    if cfg.task != "classification":  # a regressor has no threshold: its batch rows keep no probabilities
        assert schema.threshold is None and schema.positive_class is None
        batch.run(cfg, path, batch_id="values", progress=False)
        assert all(p is None for p in stored(cfg, "values")[1])
        return
    # given a champion whose threshold was tuned (train.threshold: f1), not 0.5
    assert schema.threshold is not None and abs(schema.threshold.value - 0.5) > 0.01, schema.threshold
    assert fast.runtime_name == "onnxruntime" and slow.runtime_name == "scikit-learn"
    frame = features.conform(rows, schema)
    # when the same rows are labelled by the logged model's own predict (FixedThresholdClassifier), by onnxruntime,
    # on the service's path (records validated as the service does, no DataFrame) and by a batch job
    own = slow.runtime.model.predict(frame).tolist()
    onnx_labels, onnx_probabilities = fast.predict(frame)
    Record = record_model(schema)
    records = [Record.model_validate(r) for r in rows.replace({np.nan: None}).to_dict("records")]
    service_labels, service_probabilities = fast.predict_rows([tuple(r.__dict__.values()) for r in records])
    batch.run(cfg, path, batch_id="parity", progress=False)
    batch_labels, batch_probabilities = stored(cfg, "parity")
    # then the labels are the same everywhere, rows within the ONNX tolerance of the threshold aside (float32)
    assert onnx_probabilities is not None and service_probabilities is not None
    positive = list(schema.classes).index(schema.positive_class)
    clear = np.abs(onnx_probabilities[:, positive] - schema.threshold.value) > onnx_export.PROBABILITY_TOLERANCE
    assert clear.mean() > 0.99
    assert np.array_equal(np.asarray(own)[clear], onnx_labels[clear])
    assert onnx_labels.tolist() == service_labels.tolist() == batch_labels
    # and the threshold matters: some rows are labelled otherwise than by their most probable class
    assert np.sum(onnx_labels != schema.with_threshold(None).labels(onnx_probabilities)) > 0
    # and the batch stored each row's class probabilities, as the service answers them
    keys = [str(c) for c in schema.classes]
    assert batch_probabilities == [dict(zip(keys, p, strict=True)) for p in service_probabilities.tolist()]


@pytest.mark.slow
def test_the_running_service_answers_the_batch_labels_and_probabilities(parity, server) -> None:
    cfg, _, _, rows, path = parity
    sample = rows.iloc[::40].reset_index(drop=True)
    sample_path = path.with_name("sample.parquet")
    sample.to_parquet(sample_path)
    batch.run(cfg, sample_path, batch_id="sample", progress=False)
    labels, probabilities = stored(cfg, "sample")
    response = httpx.post(
        f"{server.url}/predict", json={"records": sample.replace({np.nan: None}).to_dict("records")}, timeout=60
    )
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["prediction"] for a in answers] == labels
    assert [a["probabilities"] for a in answers] == probabilities
