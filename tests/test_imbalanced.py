"""A rare class end to end, by the generated README's commands alone: a 12,000-row table with 3% "Yes" (text labels),
generated here, brought with `make data`; `make pipeline` ranks by average precision and tunes a decision threshold;
the champion answers over HTTP (`make serve`), `make batch` stores its rows, and the ONNX model (the edge
artifact, run with onnxruntime and the threshold of its features.json) labels the same rows alike, with the same
class probabilities.
"""

from __future__ import annotations

import csv
import json
import math
import random
import signal
import sqlite3
from pathlib import Path

import pytest

from .projects import bake, free_port, post, project_env, run, serving, setup_project, short_auto_search

pytestmark = pytest.mark.slow
ROWS = 12_000
SHARE = 0.03


def credit_table(path: Path, seed: int = 20) -> None:
    """Balance and income drive a 3% "Yes" default (a student's more often); a region that means nothing."""
    draw = random.Random(seed)
    rows: list[tuple[list[object], float]] = []  # a row's columns and its risk
    for _ in range(ROWS):
        balance, income = round(draw.gammavariate(2.0, 450.0), 2), round(draw.normalvariate(40_000, 12_000), 2)
        student = draw.random() < 0.3
        noise = math.log(1 / (1 - draw.random()) - 1 + 1e-12)  # a logistic draw
        risk = 0.006 * balance - 0.00002 * income + 0.8 * student + noise
        rows.append(
            ([balance, income, "Yes" if student else "No", draw.choice(["north", "south", "east", "west"])], risk)
        )
    cut = sorted(risk for _, risk in rows)[int(ROWS * (1 - SHARE))]
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["balance", "income", "student", "region", "default"])
        writer.writerows([*columns, "Yes" if risk >= cut else "No"] for columns, risk in rows)


HOLDOUT_RECORDS = """
import json, pandas as pd
names = [f["name"] for f in json.load(open("data/processed/features.json"))["features"]]
frame = pd.read_parquet("data/processed/test.parquet")[names]
print(json.dumps([{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]))
"""

# The edge artifact as docs/serving.md says to run it: model.onnx with onnxruntime, the threshold from features.json.
ONNX_LABELS = """
import json, pathlib, numpy as np, onnxruntime, pandas as pd
stored = sorted(pathlib.Path(".bentoml/models").glob("*/v*/model.yaml"))[-1].parent
served = json.loads(pathlib.Path("served-schema.json").read_text())
session = onnxruntime.InferenceSession(str(stored / "onnx_model" / "model.onnx"), providers=["CPUExecutionProvider"])
frame = pd.read_parquet("data/processed/test.parquet")
inputs = {}
for spec, feature in zip(session.get_inputs(), served["features"]):
    column = frame[feature["name"]]
    if feature["kind"] == "numeric":
        inputs[spec.name] = column.to_numpy(dtype=np.float32).reshape(-1, 1)
    else:
        inputs[spec.name] = column.astype(object).where(column.notna(), "").to_numpy().reshape(-1, 1)
probabilities = session.run(None, inputs)[1]
classes, positive = served["classes"], served["positive_class"]
column = classes.index(positive)
other = classes[1 - column]
labels = [positive if p >= served["threshold"]["value"] else other for p in probabilities[:, column]]
print(json.dumps({"labels": labels, "probabilities": probabilities.tolist()}))
"""

SERVED_SCHEMA = """
import json, pathlib, yaml
stored = sorted(pathlib.Path(".bentoml/models").glob("*/v*/model.yaml"))[-1]
pathlib.Path("served-schema.json").write_text(json.dumps(yaml.safe_load(stored.read_text())["metadata"]))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Baked with the default answers, set up, the credit table brought and the pipeline run as the README says."""
    root = tmp_path_factory.mktemp("imbalanced")
    project = setup_project(bake(root))
    downloads = root / "Downloads"
    downloads.mkdir()
    credit_table(downloads / "credit.csv")
    run(["make", "data", f"FILE={downloads / 'credit.csv'}", "TARGET=default"], project)
    short_auto_search(project)
    done = run(["make", "pipeline"], project, timeout=1800)
    return project, done.stdout + done.stderr


def test_a_rare_class_is_ranked_by_average_precision_with_a_tuned_threshold(project: tuple[Path, str]) -> None:
    folder, output = project
    # the README tells a user with a rare class what happens
    readme = (folder / "README.md").read_text()
    assert "**A rare class**" in readme and "average precision" in readme
    # prepare named the positive class, and train and register the metric the data chose
    assert "positive class 'Yes' (the minority class; set prepare.positive_class to choose): 3.0%" in output
    assert "train.metric: a binary target whose positive class is 3.0% of the training rows (under 10%)" in output
    schema = json.loads((folder / "data" / "processed" / "features.json").read_text())
    assert schema["positive_class"] == "Yes" and schema["positive_share"] == pytest.approx(SHARE, abs=0.001)
    # the gate judged average precision against its chance level, with a floor above it
    metrics = json.loads((folder / "reports" / "metrics.json").read_text())
    registration = json.loads((folder / "reports" / "registration.json").read_text())
    assert registration["promoted"] is True
    gate = " ".join(registration["reasons"])
    assert "average_precision" in gate and "floor 0.2" in gate
    assert metrics["baseline"]["average_precision"] == pytest.approx(SHARE, abs=0.002)
    assert metrics["candidate"]["average_precision"] > 0.3
    # and the threshold was tuned for f1 on cross-validation (below 0.5 for a plain model; above it when the search
    # chose class_weight: balanced, whose probabilities of the rare class run high), and it changes the labels
    candidate = json.loads((folder / "models" / "candidate.json").read_text())
    tuned = metrics["threshold"]
    assert candidate["threshold_objective"] == "f1" and 0 < candidate["threshold"] < 1
    assert candidate["threshold"] != 0.5
    assert tuned["threshold"] == candidate["threshold"] and tuned["positive_class"] == "Yes"
    assert tuned["at_threshold"] != tuned["at_0_5"]
    assert metrics["candidate"]["f1"] == tuned["at_threshold"]["f1"]  # the labels it serves are at the threshold


def test_service_batch_and_onnx_label_the_same_rows_alike_with_the_same_probabilities(
    project: tuple[Path, str], tmp_path: Path
) -> None:
    folder, _ = project
    db = tmp_path / "serving.db"
    env = project_env(folder) | {"SERVING_DB_URL": f"sqlite:///{db}"}
    records = json.loads(run([".venv/bin/python", "-c", HOLDOUT_RECORDS], folder).stdout.strip().splitlines()[-1])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(["make", "serve", f"PORT={port}"], folder, f"{url}/readyz", tmp_path / "serve.log", env=env,
                 stop=signal.SIGINT):  # fmt: skip
        status, answers = post(f"{url}/predict", json.dumps({"records": records}).encode())
        assert status == 200, answers
    batch = json.loads(run(["make", "batch"], folder, env=env).stdout.strip().splitlines()[-1])
    assert batch["rows"] == batch["written"] == len(records)
    with sqlite3.connect(db) as connection:
        stored = connection.execute(
            "SELECT prediction, probabilities FROM scored WHERE source = 'batch' ORDER BY row_index"
        ).fetchall()
    run([".venv/bin/python", "-c", SERVED_SCHEMA], folder)
    edge = json.loads(run([".venv/bin/python", "-c", ONNX_LABELS], folder).stdout.strip().splitlines()[-1])
    served = json.loads((folder / "served-schema.json").read_text())
    assert served["onnx"]["parity"] == "held" and served["threshold"]["objective"] == "f1"
    # the same labels from the service, the batch rows and the edge model with the threshold applied
    labels = [a["prediction"] for a in answers]
    assert labels == [json.loads(p) for p, _ in stored] == edge["labels"]
    # the threshold made a difference: some rows are labelled otherwise than by their most probable class
    yes = [a["probabilities"]["Yes"] for a in answers]
    assert any((label == "Yes") != (p >= 0.5) for label, p in zip(labels, yes, strict=True))
    # and every batch row stored the probabilities the service answered (the edge model's, float32 aside)
    assert [json.loads(p) for _, p in stored] == [a["probabilities"] for a in answers]
    answered = [[a["probabilities"]["No"], a["probabilities"]["Yes"]] for a in answers]
    pairs = zip(answered, edge["probabilities"], strict=True)
    assert all(math.isclose(x, y, abs_tol=1e-6) for left, right in pairs for x, y in zip(left, right, strict=True))
