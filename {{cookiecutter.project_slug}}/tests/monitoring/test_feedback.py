"""Ground truth into the serving layer: prediction ids, the feedback table (each label with its source; a
contradicting label kept as a conflict), `python -m <package> feedback`, and which labels are trusted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text

from {{ cookiecutter.package_name }}.__main__ import main
from {{ cookiecutter.package_name }}.core.schema import Feature, Schema
from {{ cookiecutter.package_name }}.predictions import database, queries, store
from {{ cookiecutter.package_name }}.predictions.labels import check_labels

from ..helpers import small_params, write_params

SCHEMA = Schema(
    target="churned",
    task="classification",
    features=(Feature("tenure", "numeric", "float64"), Feature("plan", "categorical", "object")),
    classes=("no", "yes"),
)


@pytest.fixture
def layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """In an empty working directory, a serving layer with one online request of three rows and a keyed batch of two rows."""
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    monkeypatch.setenv("SERVING_DB_URL", url)
    monkeypatch.chdir(tmp_path)
    engine = database.connect(url)
    created = database.now()
    store.insert(
        engine,
        [
            {
                "source": database.ONLINE,
                "request_id": "req1",
                "row_index": i,
                "created_at": created,
                "model_name": "m",
                "model_version": "1",
                "inputs": {"tenure": float(i), "plan": "pro"},
                "prediction": "no",
                "probabilities": {"no": 0.8, "yes": 0.2},
            }
            for i in range(3)
        ],
    )
    batch = store.open_batch(
        engine, "nightly-1", model_name="m", model_version="1", input="in.csv", digest="d" * 32, rows=2
    )
    store.insert_scored(engine, batch, np.array([0, 1]), ["yes", "no"], ["C0001", "C0002"])
    return engine


def classification_params(root: Path) -> str:
    """A classification project's params.yaml in ``root`` (the working directory: no prepared schema there)."""
    params = small_params("classification") | {"task": "classification"}
    params["train"]["metric"] = params["register"]["metric"] = "roc_auc"
    params["register"]["floor"] = 0.55
    write_params(root, params)
    return str(root / "params.yaml")


def feedback_rows(engine, table=database.feedback) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(table.c.row_index, table.c.label, table.c.source))]


def test_a_resend_counts_once_and_a_contradicting_label_is_kept_as_a_conflict(layer) -> None:
    # given labels for two online predictions, by the ids the service returns, sent over HTTP
    labels = [(("req1", "0"), "yes"), (("req1", "2"), "no")]
    first = store.record_feedback(layer, labels, source=database.LABEL_HTTP, sender="token:abc")
    # when they are sent again, one of them with the other class, from a file
    second = store.record_feedback(layer, [(("req1", "0"), "no"), (("req1", "2"), "no")], sender="ops: fix.csv")
    # then the first label stays, the repeat counts once, and the contradiction is kept apart with its source
    assert first == {"received": 2, "new": 2, "repeated": 0, "conflicts": 0}
    assert second == {"received": 2, "new": 0, "repeated": 1, "conflicts": 1}
    assert sorted(feedback_rows(layer)) == [(0, "yes", "http"), (2, "no", "http")]
    assert feedback_rows(layer, database.feedback_conflicts) == [(0, "no", "file")]
    # sending the conflicting label again adds nothing
    assert store.record_feedback(layer, [(("req1", "0"), "no")])["repeated"] == 1
    assert len(feedback_rows(layer, database.feedback_conflicts)) == 1
    # and the disputed prediction is left out of what live metrics and harvest read
    assert [(r["row_index"], r["label"], r["label_source"]) for r in queries.labelled(layer)] == [(2, "no", "http")]
    assert queries.label_counts(layer) == {"trusted": 1, "conflicts": 1, "untrusted": 0}


def test_a_caller_limited_to_online_predictions_gets_the_same_answer_for_a_batch_row_as_for_no_row(layer) -> None:
    # POST /feedback may label online predictions only: a batch row's id is answered as an id that does not exist
    http, online = database.LABEL_HTTP, (database.ONLINE,)
    with pytest.raises(store.UnknownPredictions) as batch_row:
        store.record_feedback(layer, [(("nightly-1", "C0001"), "yes")], source=http, sources=online)
    with pytest.raises(store.UnknownPredictions) as no_row:
        store.record_feedback(layer, [(("nightly-9", "C0001"), "yes")], source=http, sources=online)
    assert str(batch_row.value).replace("nightly-1", "X") == str(no_row.value).replace("nightly-9", "X")
    assert feedback_rows(layer) == []
    # while the trusted path (a file) labels the batch row
    assert store.record_feedback(layer, [(("nightly-1", "C0001"), "yes")])["new"] == 1


def test_an_unknown_id_refuses_the_call_naming_it(layer) -> None:
    with pytest.raises(store.UnknownPredictions, match=r"'req1:7'.*'nope:0'"):
        store.record_feedback(layer, [(("req1", "0"), "yes"), (("req1", "7"), "no"), (("nope", "0"), "no")])
    assert feedback_rows(layer) == []  # all or nothing


def test_a_batch_row_is_found_by_batch_id_and_key(layer) -> None:
    assert store.record_feedback(layer, [(("nightly-1", "C0002"), "yes")])["new"] == 1
    labelled = queries.labelled(layer)
    assert [(r["request_id"], r["row_key"], r["prediction"], r["label"]) for r in labelled] == [
        ("nightly-1", "C0002", "no", "yes")
    ]


def test_labels_of_the_wrong_type_or_class_are_named() -> None:
    items = [("req1:0", "yes"), ("req1:1", 1), ("req1:2", "maybe"), ("no-separator", "no")]
    labels, problems = check_labels(items, SCHEMA, strict=True)
    assert labels == [(("req1", "0"), "yes")]
    assert len(problems) == 3
    assert "'req1:1'" in problems[0] and "type str" in problems[0]
    assert "'req1:2'" in problems[1] and "maybe" in problems[1]
    assert "'no-separator'" in problems[2]


def test_regression_labels_must_be_finite_numbers() -> None:
    schema = Schema(target="y", task="regression", features=SCHEMA.features)
    labels, problems = check_labels([("a:0", 1.5), ("a:1", "x"), ("a:2", float("nan"))], schema, strict=True)
    assert labels == [(("a", "0"), 1.5)]
    assert ["'a:1'" in problems[0], "'a:2'" in problems[1]] == [True, True]


def test_the_feedback_command_loads_a_file_once_with_its_source(layer, tmp_path: Path, capsys) -> None:
    # given a labels file that mixes online ids and a batch row by batch id + key
    online = tmp_path / "online.csv"
    pd.DataFrame({"id": ["req1:0", "req1:1"], "label": ["yes", "no"]}).to_csv(online, index=False)
    batch = tmp_path / "batch.csv"
    pd.DataFrame({"batch_id": ["nightly-1"], "row_key": ["C0001"], "label": ["yes"]}).to_csv(batch, index=False)
    params = classification_params(tmp_path)
    # when both are loaded twice
    for _ in range(2):
        assert main(["--params", str(params), "feedback", "--input", str(online)]) == 0
        assert main(["--params", str(params), "feedback", "--input", str(batch)]) == 0
    # then three labels are stored, each from a file, with the file's name as part of its sender
    with layer.connect() as connection:
        assert connection.execute(select(func.count()).select_from(database.feedback)).scalar_one() == 3
        senders = connection.execute(select(database.feedback.c.source, database.feedback.c.sender)).all()
    assert {source for source, _ in senders} == {"file"}
    assert {sender.split(": ")[1] for _, sender in senders} == {"online.csv", "batch.csv"}


def test_the_feedback_command_names_unknown_ids_and_stores_nothing(layer, tmp_path: Path, capsys) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["req1:0", "req9:0"], "label": ["yes", "no"]}).to_csv(labels, index=False)
    params = classification_params(tmp_path)
    assert main(["--params", str(params), "feedback", "--input", str(labels)]) == 1
    assert "'req9:0'" in capsys.readouterr().err
    assert feedback_rows(layer) == []


def test_retention_deletes_old_requests_with_their_predictions_and_feedback(layer) -> None:
    from datetime import timedelta

    # given labelled predictions, and an online request of 40 days ago
    store.record_feedback(layer, [(("req1", "0"), "yes")])
    old = database.now() - timedelta(days=40)
    row = {"source": database.ONLINE, "request_id": "old", "row_index": 0, "created_at": old, "model_name": "m"}
    store.insert(layer, [row | {"model_version": "1", "inputs": None, "prediction": "no", "probabilities": None}])
    store.record_feedback(layer, [(("old", "0"), "no")])
    store.record_feedback(layer, [(("old", "0"), "yes")])  # a conflict, deleted with its prediction
    # when the serving layer keeps 30 days
    deleted = queries.prune(layer, database.now() - timedelta(days=30))
    # then the old request is gone with its prediction and label; the rest stays
    assert deleted == 1
    assert queries.count(layer) == 5
    assert [r["request_id"] for r in queries.labelled(layer)] == ["req1"]
    assert feedback_rows(layer, database.feedback_conflicts) == []


def test_labels_stored_before_sources_were_recorded_are_kept_but_never_trusted(tmp_path: Path) -> None:
    # given a serving layer whose feedback table predates sources (labels from when POST /feedback was open)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = database.connect(url)
    created = database.now()
    row = {"source": database.ONLINE, "request_id": "r", "created_at": created, "model_name": "m", "model_version": "1"}
    store.insert(engine, [row | {"row_index": i, "prediction": "no"} for i in range(2)])
    store.record_feedback(engine, [(("r", "0"), "yes")])
    engine.dispose()
    with create_engine(url).begin() as connection:
        connection.execute(
            text("CREATE TABLE old_feedback AS SELECT request, row_index, label, received_at FROM feedback")
        )
        connection.execute(text("DROP TABLE feedback"))
        connection.execute(text("DROP TABLE feedback_conflicts"))
        connection.execute(text("ALTER TABLE old_feedback RENAME TO feedback"))
    # when the project connects to it
    engine = database.connect(url)
    # then the old label is still there, marked unverified, and left out of live metrics and harvest
    assert feedback_rows(engine) == [(0, "yes", "unverified")]
    assert queries.labelled(engine) == []
    assert queries.label_counts(engine) == {"trusted": 0, "conflicts": 0, "untrusted": 1}
    # while a new label is stored with its source
    assert store.record_feedback(engine, [(("r", "1"), "no")])["new"] == 1
    assert [r["row_index"] for r in queries.labelled(engine)] == [1]
