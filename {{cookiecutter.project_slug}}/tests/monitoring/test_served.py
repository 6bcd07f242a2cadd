"""The loop closed, over real HTTP: synthetic traffic through `bentoml serve`, labels back through POST /feedback
(with the feedback token), then `monitor` on the serving layer (drift, quality, live metrics, decision)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from {{ cookiecutter.package_name }}.__main__ import main
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.monitoring import monitor, report
from {{ cookiecutter.package_name }}.predictions import database, queries
from {{ cookiecutter.package_name }}.serving import batch, credentials

from ..helpers import inside, start_server

pytestmark = pytest.mark.slow  # a real `bentoml serve` process, MLflow and GX
FEEDBACK_TOKEN, METRICS_TOKEN = "feedback-" + "f" * 40, "metrics-" + "m" * 40


@pytest.fixture(scope="module")
def service(trained_project: Path, champion, bentoml_home: Path, tmp_path_factory):
    tokens = {"FEEDBACK_TOKEN": FEEDBACK_TOKEN, "METRICS_TOKEN": METRICS_TOKEN}
    running = start_server(trained_project, bentoml_home, tmp_path_factory.mktemp("monitored"), env=tokens)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def policy_path(trained_project: Path, tmp_path_factory) -> Path:
    """The trained project's params with a policy sized for its small holdout (48 rows)."""
    import yaml

    params = yaml.safe_load((trained_project / "params.yaml").read_text())
    params["monitor"] |= {"min_rows": 30, "min_labelled": 30, "drift_share": 0.3, "max_metric_drop": 0.05}
    path = tmp_path_factory.mktemp("policy") / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def policy(policy_path: Path) -> config.Config:
    return config.load(policy_path)


@pytest.fixture
def layer(service, monkeypatch: pytest.MonkeyPatch):
    """The service's serving layer, emptied, and read by the commands under test."""
    monkeypatch.setenv("SERVING_DB_URL", service.db_url)
    engine = database.connect(service.db_url)
    with engine.begin() as connection:
        for table in (database.feedback_conflicts, database.feedback, database.predictions, database.requests):
            connection.execute(table.delete())
    return engine


def holdout(project: Path, policy: config.Config) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    import bentoml

    from {{ cookiecutter.package_name }} import serving

    stored = bentoml.models.get(f"{serving.store_name(policy.tracking.model_name)}:latest")
    names = serving.stored_schema(stored).names
    frame = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    return frame[names], frame[policy.ingest.target], names


def records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def serve(service, engine, frame: pd.DataFrame) -> list[dict]:
    """Send the rows through POST /predict, wait until the serving layer has them; the answers."""
    before = queries.count(engine)
    response = httpx.post(f"{service.url}/predict", json={"records": records(frame)}, timeout=60)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 15
    while queries.count(engine) < before + len(frame) and time.monotonic() < deadline:
        time.sleep(0.2)
    return response.json()


def post_feedback(service, items: list[dict], token: str | None = FEEDBACK_TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{service.url}/feedback", json={"items": items}, headers=headers, timeout=60)


def monitored(policy: config.Config, project: Path, out: Path) -> dict:
    with inside(project):
        summary = monitor.run(policy, since="1h", out=out)
    assert json.loads((out / "summary.json").read_text())["decision"] == summary["decision"]
    return summary


def wrong(label, labels: pd.Series):
    """Another label than the true one: the other class, or a value far off."""
    if pd.api.types.is_numeric_dtype(labels) and labels.nunique() > 10:
        return float(label + 5 * labels.std())
    return next(c for c in sorted(labels.unique()) if c != label)


def test_feedback_over_http_needs_the_token_counts_once_and_names_bad_items(
    service, layer, trained_project, policy
) -> None:
    X, y, _ = holdout(trained_project, policy)
    answers = serve(service, layer, X.head(3))
    ids = [a["id"] for a in answers]
    assert ids == [f"{answers[0]['request_id']}:{i}" for i in range(3)]
    items = [{"id": i, "label": (v.item() if hasattr(v, "item") else v)} for i, v in zip(ids, y.head(3), strict=True)]
    # without the token, or with another one, nothing is stored: 401 saying what is needed
    for token in (None, METRICS_TOKEN, FEEDBACK_TOKEN + "x"):
        refused = post_feedback(service, items, token)
        assert refused.status_code == 401 and "FEEDBACK_TOKEN" in refused.json()["error"], refused.text
    assert queries.label_counts(layer) == {"trusted": 0, "conflicts": 0, "untrusted": 0}
    # a first send stores three labels, from http, signed by the token's fingerprint; a resend never doubles them
    assert post_feedback(service, items).json() == {"received": 3, "new": 3, "repeated": 0, "conflicts": 0}
    assert post_feedback(service, items).json() == {"received": 3, "new": 0, "repeated": 3, "conflicts": 0}
    with layer.connect() as connection:
        assert connection.execute(select(func.count()).select_from(database.feedback)).scalar_one() == 3
        senders = set(connection.execute(select(database.feedback.c.source, database.feedback.c.sender)).all())
    assert senders == {("http", credentials.fingerprint(FEEDBACK_TOKEN))}
    # another label for a labelled prediction is kept as a conflict, and the prediction is no longer trusted
    changed = [{"id": ids[0], "label": wrong(items[0]["label"], y)}]
    assert post_feedback(service, changed).json() == {"received": 1, "new": 0, "repeated": 0, "conflicts": 1}
    assert queries.label_counts(layer) == {"trusted": 2, "conflicts": 1, "untrusted": 0}
    # an unknown id is a 4xx naming it; nothing of that call is stored
    unknown = post_feedback(service, [items[0], {"id": "0" * 32 + ":0", "label": items[0]["label"]}])
    assert 400 <= unknown.status_code < 500 and "0" * 32 + ":0" in unknown.text
    # a label of the wrong type is a 4xx naming the id
    bad = "not a number" if policy.task == "regression" else 1.5
    wrong_type = post_feedback(service, [{"id": ids[1], "label": bad}])
    assert 400 <= wrong_type.status_code < 500 and ids[1] in wrong_type.text
    assert post_feedback(service, [{"idx": ids[1], "label": 1}]).status_code == 400


def test_a_batch_row_is_labelled_by_make_feedback_only(
    service, layer, trained_project, policy, policy_path, tmp_path
) -> None:
    X, y, _ = holdout(trained_project, policy)
    table = X.head(5).assign(customer=[f"K{i}" for i in range(5)])
    table.to_parquet(tmp_path / "nightly.parquet")
    with inside(trained_project):
        result = batch.run(
            policy, tmp_path / "nightly.parquet", batch_id="nightly-7", key_column="customer", progress=False
        )
    label = y.iloc[3].item() if hasattr(y.iloc[3], "item") else y.iloc[3]
    # over HTTP, even with the token, a batch row's id gets the answer an id that does not exist gets
    batch_row = post_feedback(service, [{"id": f"{result.batch_id}:K3", "label": label}])
    no_row = post_feedback(service, [{"id": "nightly-9:K3", "label": label}])
    assert batch_row.status_code == no_row.status_code == 404
    assert batch_row.json() == json.loads(no_row.text.replace("nightly-9", result.batch_id))
    assert queries.labelled(layer) == []
    # the trusted side labels it from a file (make feedback LABELS=...)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"batch_id": [result.batch_id], "row_key": ["K3"], "label": [label]}).to_csv(labels, index=False)
    with inside(trained_project):  # the prepared schema there names the classes
        assert main(["--params", str(policy_path), "feedback", "--input", str(labels)]) == 0
    (row,) = queries.labelled(layer)
    assert (row["source"], row["request_id"], row["row_key"], row["label"]) == ("batch", "nightly-7", "K3", label)
    assert row["label_source"] == "file"
    assert row["inputs"] is not None  # the batch's sample of kept features (all 5 rows: fewer than the sample size)


def test_traffic_like_the_holdout_gives_ok_and_no_drift_over_seeds(service, layer, trained_project, policy, tmp_path):
    X, _, _ = holdout(trained_project, policy)
    false_alarms = []
    for seed in range(5):
        with layer.begin() as connection:
            connection.execute(database.predictions.delete())
            connection.execute(database.requests.delete())
        serve(service, layer, X.sample(n=40, random_state=seed))
        summary = monitored(policy, trained_project, tmp_path / str(seed))
        assert summary["rows"] == 40
        assert summary["decision"] == "ok", summary["reasons"]
        false_alarms += summary["drifted_features"]
    assert len(false_alarms) <= 1, false_alarms  # at most one drifted feature in 5 windows (5% family-wise)


def test_one_shifted_number_and_one_changed_mix_alert_naming_exactly_those(
    service, layer, trained_project, champion, policy, tmp_path
) -> None:
    X, _, _ = holdout(trained_project, policy)
    schema = {f["name"]: f["kind"] for f in champion.info.metadata["features"]}
    numeric = next(n for n, k in schema.items() if k == "numeric")
    shifted = X.copy()
    train = pd.read_parquet(trained_project / "data" / "processed" / "train.parquet")
    shifted[numeric] = shifted[numeric] + 2 * train[numeric].std()
    expected = {numeric}
    categorical = [n for n, k in schema.items() if k == "categorical"]
    if categorical:  # the shipped customers table has plan and region; the mix of the first one changes
        name = categorical[0]
        rare = train[name].value_counts().index[-1]
        shifted[name] = np.where(np.arange(len(shifted)) % 10 < 8, rare, shifted[name])
        expected.add(name)
    serve(service, layer, shifted)
    out = tmp_path / "shifted"
    summary = monitored(policy, trained_project, out)
    assert summary["decision"] == "alert", summary["reasons"]
    assert set(summary["drifted_features"]) == expected
    assert any("drifted" in reason for reason in summary["reasons"])
    assert (out / "summary.md").read_text().startswith(report.MARKER)
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    (tmp_path.parent / "shifted-summary.json").write_text((out / "summary.json").read_text())
    # and the run is in MLflow's `monitoring` experiment, tagged with the model version
    import mlflow

    with inside(trained_project):
        runs = mlflow.search_runs(experiment_names=[monitor.EXPERIMENT], filter_string="tags.decision = 'alert'")
    assert (runs["tags.model_version"] == summary["model_version"]).any()


def test_thirty_percent_wrong_labels_drop_the_live_metric_and_retrain(
    service, layer, trained_project, policy, policy_path, tmp_path
) -> None:
    X, y, _ = holdout(trained_project, policy)
    answers = serve(service, layer, X)
    truth = [v.item() if hasattr(v, "item") else v for v in y]
    # true labels: the live metric is the champion's holdout score, and nothing to retrain
    post_feedback(service, [{"id": a["id"], "label": t} for a, t in zip(answers, truth, strict=True)])
    right = monitored(policy, trained_project, tmp_path / "right")
    metric = policy.register_.metric
    assert right["live_metrics"]["labelled_rows"] == len(X)
    assert right["live_metrics"][metric] == pytest.approx(right["holdout_score"], abs=1e-4)
    assert right["decision"] != "retrain"
    # the same traffic again, on a fresh serving layer, labelled with 30% of the labels wrong
    with layer.begin() as connection:
        for table in (database.feedback_conflicts, database.feedback, database.predictions, database.requests):
            connection.execute(table.delete())
    answers = serve(service, layer, X)
    flip = set(np.random.default_rng(0).choice(len(truth), size=int(0.3 * len(truth)), replace=False).tolist())
    labels = [wrong(t, y) if i in flip else t for i, t in enumerate(truth)]
    response = post_feedback(service, [{"id": a["id"], "label": t} for a, t in zip(answers, labels, strict=True)])
    assert response.json()["new"] == len(X)
    # (through the command a workflow runs: the decision is a step output, the summary goes to the job's page)
    github = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "page.md"}
    with inside(trained_project), pytest.MonkeyPatch.context() as patch:
        for name, path in github.items():
            patch.setenv(name, str(path))
        args = ["--params", str(policy_path), "monitor", "--since", "1h", "--out", str(tmp_path / "wrong")]
        assert main(args) == 0
    assert (tmp_path / "output").read_text() == "decision=retrain\n"
    assert report.MARKER in (tmp_path / "page.md").read_text()
    worse = json.loads((tmp_path / "wrong" / "summary.json").read_text())
    assert worse["live_metrics"]["labelled_rows"] == len(X)
    drop = right["live_metrics"][metric] - worse["live_metrics"][metric]
    assert (drop if policy.greater_is_better else -drop) > policy.monitor.max_metric_drop
    assert worse["decision"] == "retrain", worse["reasons"]


def test_metrics_need_the_metrics_token_when_one_is_set(service) -> None:
    assert httpx.get(f"{service.url}/metrics", timeout=30).status_code == 401
    headers = {"Authorization": f"Bearer {FEEDBACK_TOKEN}"}
    assert httpx.get(f"{service.url}/metrics", headers=headers, timeout=30).status_code == 401
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.get(f"{service.url}/metrics", headers=headers, timeout=30).status_code == 200
