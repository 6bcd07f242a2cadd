"""The hot path, over real HTTP: a `bentoml serve` process of serving/service.py on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import bentoml
import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.predictions import database, queries
from {{ cookiecutter.package_name }}.training import features, onnx_export

from ..helpers import PACKAGE, inside, start_server

pytestmark = pytest.mark.slow  # each test talks to a real `bentoml serve` process


def rows_for(db_url: str, request_id: str, expected: int, timeout: float = 10) -> list[dict]:
    """The serving-layer rows of one request (writes are asynchronous: wait for the flush)."""
    engine = database.connect(db_url)
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            query = select(database.scored).where(database.scored.c.request_id == request_id)
            rows = [dict(r._mapping) for r in connection.execute(query)]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_predict_answers_each_record_with_the_model_that_answered(server, champion, feature_rows) -> None:
    # given three holdout records
    records = feature_rows[:3]
    # when they are sent through BentoML's own client
    with bentoml.SyncHTTPClient(server.url) as client:
        answers = client.predict(records=records)
    # then each gets the champion's own answer (its scikit-learn pipeline on the same rows, to the ONNX tolerance)
    assert len(answers) == 3
    meta = champion.info.metadata
    reference = serving.load(champion, runtime="scikit-learn")
    labels, probabilities = reference.predict(features.conform(pd.DataFrame(records), reference.schema))
    for i, answer in enumerate(answers):
        assert answer["model_name"] == meta["registered_model"]
        assert answer["model_version"] == meta["registered_version"]
        if meta["task"] == "classification":
            assert probabilities is not None
            assert answer["prediction"] == labels.tolist()[i]
            expected = dict(zip(map(str, meta["classes"]), probabilities[i].tolist(), strict=True))
            assert answer["probabilities"] == pytest.approx(expected, abs=onnx_export.PROBABILITY_TOLERANCE)
        else:
            assert isinstance(answer["prediction"], float)
            assert answer["prediction"] == pytest.approx(labels[i], rel=onnx_export.REGRESSION_TOLERANCE)
    assert len({a["request_id"] for a in answers}) == 1


def test_health_readiness_and_a_typed_schema_on_the_openapi_page(server, champion) -> None:
    assert httpx.get(f"{server.url}/livez").status_code == 200
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    spec = httpx.get(f"{server.url}/docs.json").json()
    record = spec["components"]["schemas"]["Record"]
    features = {f["name"]: f["kind"] for f in champion.info.metadata["features"]}
    assert set(record["properties"]) == set(features)
    assert set(record["required"]) == set(features)
    for name, kind in features.items():
        types = {option.get("type") for option in record["properties"][name]["anyOf"]}
        assert types == ({"number", "null"} if kind == "numeric" else {"string", "null"})


def test_served_predictions_land_in_the_serving_layer(server, champion, feature_rows) -> None:
    # given a request of two records
    response = httpx.post(f"{server.url}/predict", json={"records": feature_rows[:2]})
    assert response.status_code == 200
    request_id = response.json()[0]["request_id"]
    # then both rows are written with the request id, model version, inputs and outputs
    rows = rows_for(server.db_url, request_id, 2)
    assert sorted(r["row_key"] for r in rows) == ["0", "1"]
    for row, answer, record in zip(
        sorted(rows, key=lambda r: r["row_key"]), response.json(), feature_rows[:2], strict=True
    ):
        assert row["source"] == "online"
        assert row["model_version"] == champion.info.metadata["registered_version"]
        assert row["prediction"] == answer["prediction"]
        assert row["probabilities"] == answer["probabilities"]
        assert row["inputs"] == record
        assert row["created_at"] is not None


def _without(record: dict, name: str) -> dict:
    return {k: v for k, v in record.items() if k != name}


def bad_requests(record: dict, numeric: str, categorical: str | None) -> dict[str, tuple[dict, str | None]]:
    """name -> (request kwargs for httpx, the field the error must name)."""
    cases: dict[str, tuple[dict, str | None]] = {
        "missing field": ({"json": {"records": [_without(record, numeric)]}}, numeric),
        "wrong type": ({"json": {"records": [record | {numeric: "not a number"}]}}, numeric),
        "unknown field": ({"json": {"records": [record | {"no_such_feature": 1}]}}, "no_such_feature"),
        "empty list": ({"json": {"records": []}}, "records"),
        "no records key": ({"json": {}}, "records"),
        "a list instead of an object": ({"json": [record]}, None),
        "NaN": (
            {
                "content": json.dumps({"records": [record | {numeric: float("nan")}]}),
                "headers": {"content-type": "application/json"},
            },
            numeric,
        ),
        "infinity": (
            {
                "content": json.dumps({"records": [record | {numeric: float("inf")}]}),
                "headers": {"content-type": "application/json"},
            },
            numeric,
        ),
        "not JSON": ({"content": b"this is not json", "headers": {"content-type": "application/json"}}, None),
        "text/plain body": ({"content": b"hello", "headers": {"content-type": "text/plain"}}, None),
        "truncated JSON": ({"content": b'{"records": [{', "headers": {"content-type": "application/json"}}, None),
        "form data": ({"data": {"records": "x"}}, "records"),
        "oversized payload": (
            {"content": b"[" + b" " * (17 * 1024 * 1024) + b"]", "headers": {"content-type": "application/json"}},
            "body",
        ),
        "oversized, streamed": (
            {"content": iter([b" " * (1 << 20)] * 17), "headers": {"content-type": "application/json"}},
            "body",
        ),
    }
    if categorical is not None:
        cases["number for a text feature"] = ({"json": {"records": [record | {categorical: 5}]}}, categorical)
    return cases


def test_without_a_feedback_token_feedback_is_disabled_and_says_how_to_enable_it(server, feature_rows) -> None:
    # given a service started without FEEDBACK_TOKEN, and a prediction it answered
    (answer,) = httpx.post(f"{server.url}/predict", json={"records": feature_rows[:1]}, timeout=60).json()
    item = {"id": answer["id"], "label": answer["prediction"]}
    # then POST /feedback refuses every caller, with or without a token, and says how to enable it
    for headers in ({}, {"Authorization": "Bearer " + "x" * 64}):
        refused = httpx.post(f"{server.url}/feedback", json={"items": [item]}, headers=headers, timeout=60)
        assert refused.status_code == 403 and "set FEEDBACK_TOKEN" in refused.json()["error"], refused.text
    with database.connect(server.db_url).connect() as connection:
        assert connection.execute(select(database.feedback)).all() == []


def test_metrics_answer_this_machine(server) -> None:
    # the service runs on loopback here: Prometheus metrics answer it (another host needs METRICS_TOKEN)
    metrics = httpx.get(f"{server.url}/metrics", timeout=30)
    assert metrics.status_code == 200 and "bentoml" in metrics.text.lower()


def test_bad_input_gets_a_4xx_naming_the_field_and_never_stops_the_server(server, champion, feature_rows) -> None:
    features = champion.info.metadata["features"]
    numeric = next(f["name"] for f in features if f["kind"] == "numeric")
    categorical = next((f["name"] for f in features if f["kind"] == "categorical"), None)
    failures = []
    for name, (request, field) in bad_requests(feature_rows[0], numeric, categorical).items():
        response = httpx.post(f"{server.url}/predict", timeout=60, **request)
        try:
            body = response.json()
        except ValueError:
            failures.append(f"{name}: {response.status_code} without a JSON body: {response.text[:200]}")
            continue
        if not 400 <= response.status_code < 500:
            failures.append(f"{name}: status {response.status_code}: {body}")
        elif field is not None and field not in json.dumps(body):
            failures.append(f"{name}: the error does not name {field!r}: {body}")
    assert not failures, "\n".join(failures)
    # and the server still answers good requests
    assert server.process.poll() is None
    assert httpx.post(f"{server.url}/predict", json={"records": feature_rows[:1]}).status_code == 200


def test_null_is_a_missing_value_the_model_imputes(server, champion, feature_rows) -> None:
    numeric = next(f["name"] for f in champion.info.metadata["features"] if f["kind"] == "numeric")
    response = httpx.post(f"{server.url}/predict", json={"records": [feature_rows[0] | {numeric: None}]})
    assert response.status_code == 200


def test_concurrent_requests_are_batched_and_each_record_keeps_its_request(server, feature_rows) -> None:
    """Adaptive batching scores many requests in one call: every answer and every stored row still belongs to the
    request (and the position in it) its record came from, whatever order a record's fields come in."""
    from concurrent.futures import ThreadPoolExecutor

    sizes = [1 + i % 3 for i in range(200)]
    picked = [[(i + k) % len(feature_rows) for k in range(size)] for i, size in enumerate(sizes)]
    sent = [
        [feature_rows[row] if i % 2 else dict(reversed(feature_rows[row].items())) for row in rows]
        for i, rows in enumerate(picked)
    ]
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(16) as pool:
        responses = list(
            pool.map(lambda records: client.post(f"{server.url}/predict", json={"records": records}), sent)
        )
    assert [r.status_code for r in responses] == [200] * len(sent)
    answers = [r.json() for r in responses]
    request_ids = [answer[0]["request_id"] for answer in answers]
    assert len(set(request_ids)) == len(sent)
    first: dict[int, dict] = {}  # feature row -> its first answer; every other request that sent it gets the same
    for request_id, answer, rows in zip(request_ids, answers, picked, strict=True):
        assert [a["id"] for a in answer] == [f"{request_id}:{k}" for k in range(len(rows))]
        assert {a["request_id"] for a in answer} == {request_id}
        for row, a in zip(rows, answer, strict=True):
            expected = first.setdefault(row, a)
            assert a["prediction"] == expected["prediction"]
            # float32 inference in batches of another size may move the last bits, no more
            assert a["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
    engine = database.connect(server.db_url)
    with engine.connect() as connection:
        stored = {
            (r.request_id, r.row_key): r.inputs
            for r in connection.execute(select(database.scored).where(database.scored.c.source == database.ONLINE))
        }
    for request_id, records in zip(request_ids, sent, strict=True):
        assert [stored[request_id, str(k)] for k in range(len(records))] == records


def test_a_clean_shutdown_writes_every_served_prediction(
    trained_project, champion, bentoml_home, feature_rows, tmp_path
) -> None:
    # given a service that has just answered 150 requests
    own = start_server(trained_project, bentoml_home, tmp_path)
    try:
        with httpx.Client(timeout=60) as client:
            for i in range(150):
                assert (
                    client.post(
                        f"{own.url}/predict", json={"records": [feature_rows[i % len(feature_rows)]]}
                    ).status_code
                    == 200
                )
    finally:
        # when it is stopped right away
        own.stop()
    # then every prediction is in the serving layer
    assert queries.count(database.connect(own.db_url), database.ONLINE) == 150


def test_a_new_champion_is_served_without_a_restart(trained_project, champion, feature_rows, tmp_path) -> None:
    # given a service that follows the champion of its own copy of the registry, in its own BentoML store
    import mlflow

    project, home = tmp_path / "project", tmp_path / "bentoml"
    shutil.copytree(trained_project, project)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    env = os.environ | {"BENTOML_HOME": str(home), "MLFLOW_TRACKING_URI": uri}
    subprocess.run(
        [sys.executable, "-m", PACKAGE, "import-model"], cwd=project, env=env, check=True, capture_output=True
    )
    own = start_server(project, home, tmp_path, follow_champion=0.5)
    body = {"records": feature_rows[:1]}
    try:
        served = httpx.post(f"{own.url}/predict", json=body, timeout=60).json()[0]["model_version"]
        # when the registry's champion moves to a new version
        with inside(project):  # MLflow resolves the logged model through the global tracking URI
            client = mlflow.MlflowClient(uri, uri)
            name = config.load("params.yaml").tracking.model_name
            current = client.get_model_version_by_alias(name, "champion")
            assert served == str(current.version) and current.source is not None
            # (registered from the same logged model, with the tags register writes: manifests, schema, ONNX outcome)
            new = client.create_model_version(name, current.source, run_id=current.run_id, tags=current.tags)
            client.set_registered_model_alias(name, "champion", new.version)
        # then, within seconds, it answers with the new version, and no request fails meanwhile
        statuses, deadline = [], time.monotonic() + 60
        with httpx.Client(timeout=60) as http:
            while served != str(new.version) and time.monotonic() < deadline:
                response = http.post(f"{own.url}/predict", json=body)
                statuses.append(response.status_code)
                served = response.json()[0]["model_version"]
                time.sleep(0.1)
    finally:
        own.stop()
    assert served == str(new.version), own.log.read_text()[-3000:]
    assert set(statuses) == {200}
    with database.connect(own.db_url).connect() as connection:
        versions = set(connection.execute(select(database.scored.c.model_version)).scalars())
    assert versions == {str(current.version), str(new.version)}
