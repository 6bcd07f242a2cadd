"""Serving end to end in the default project: `make serve` over real HTTP, bad input, feedback only with its token,
`make batch`, the serving-layer rows, a clean stop, and `make bento` offline."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .projects import free_port, post, project_env, run, serving

pytestmark = pytest.mark.slow
PACKAGE = "my_mlops_project"
FEEDBACK_TOKEN = "labeller-" + "7" * 40

BATCH_ID = """
import sys
from sqlalchemy import create_engine, text
with create_engine(sys.argv[1]).connect() as connection:
    print(connection.execute(text("SELECT request_id FROM requests WHERE source = 'batch'")).scalar_one())
"""
FIRST_HOLDOUT_ROWS = """
import json, pandas as pd
names = [f["name"] for f in json.load(open("data/processed/features.json"))["features"]]
frame = pd.read_parquet("data/processed/test.parquet")
print(json.dumps({"records": frame[names].head(3).to_dict("records"), "holdout_rows": len(frame)}))
"""


def feedback(url: str, items: list[dict[str, Any]], token: str | None) -> tuple[int, dict[str, Any]]:
    """POST /feedback with ``token`` as the bearer credential (None: anonymous); the status and the JSON answer."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    body = json.dumps({"items": items}).encode()
    request = urllib.request.Request(f"{url}/feedback", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_make_serve_answers_over_http_and_both_paths_fill_the_serving_layer(
    default_project: Path, tmp_path: Path
) -> None:
    project = default_project
    sample = json.loads(run([".venv/bin/python", "-c", FIRST_HOLDOUT_ROWS], project).stdout.strip().splitlines()[-1])
    records, holdout_rows = sample["records"], sample["holdout_rows"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = project_env(project) | {
        "SERVING_DB_URL": f"sqlite:///{tmp_path / 'serving.db'}",
        "FEEDBACK_TOKEN": FEEDBACK_TOKEN,
    }
    # stopped as Ctrl+C in a terminal stops it: SIGINT to the whole process group; queued predictions are written first
    with serving(["make", "serve", f"PORT={port}"], project, f"{url}/readyz", log, env=env, stop=signal.SIGINT):
        # a real prediction, through the project's own client (bentoml.SyncHTTPClient) and through raw HTTP
        answers = json.loads(
            run([".venv/bin/python", "-m", PACKAGE, "predict", "--url", url, "--rows", "2"], project, env=env).stdout
        )
        assert len(answers) == 2 and all(a["model_version"] for a in answers)
        status, body = post(f"{url}/predict", json.dumps({"records": records}).encode())
        assert status == 200, body
        assert [a["request_id"] for a in body] == [body[0]["request_id"]] * 3
        assert all(set(a) >= {"prediction", "probabilities", "model_name", "model_version"} for a in body)
        # bad input: a 4xx with a JSON body naming the field, and the server keeps serving
        field = next(iter(records[0]))
        for payload, named in [
            (json.dumps({"records": [{k: v for k, v in records[0].items() if k != field}]}).encode(), field),
            (json.dumps({"records": [records[0] | {field: "abc"}]}).encode(), field),
            (json.dumps({"records": [records[0] | {"surprise": 1}]}).encode(), "surprise"),
            (json.dumps({"records": []}).encode(), "records"),
            (json.dumps({"records": [records[0] | {field: float("nan")}]}).encode(), field),
            (b"not json", None),
        ]:
            status, body = post(f"{url}/predict", payload)
            assert 400 <= status < 500 and (named is None or named in json.dumps(body)), (status, body)
        assert post(f"{url}/predict", json.dumps({"records": records[:1]}).encode())[0] == 200
        # true labels: refused to an anonymous client or another token, stored with the feedback token
        items = [{"id": a["id"], "label": a["prediction"]} for a in answers]
        for token in (None, "x" * 40):
            status, answer = feedback(url, items, token)
            assert status == 401 and "FEEDBACK_TOKEN" in answer["error"], answer
        assert feedback(url, items, FEEDBACK_TOKEN) == (200, {"received": 2, "new": 2, "repeated": 0, "conflicts": 0})
        # the cold path, while the service runs
        run(["make", "batch"], project, env=env)
        # a batch row's id gets, over HTTP, the answer an id that does not exist gets (batch rows: make feedback)
        batch_id = run([".venv/bin/python", "-c", BATCH_ID, env["SERVING_DB_URL"]], project, env=env).stdout.strip()
        label = items[0]["label"]
        known = feedback(url, [{"id": f"{batch_id}:0", "label": label}], FEEDBACK_TOKEN)
        unknown = feedback(url, [{"id": "no-such-batch:0", "label": label}], FEEDBACK_TOKEN)
        assert known[0] == unknown[0] == 404
        assert json.dumps(known[1]) == json.dumps(unknown[1]).replace("no-such-batch", batch_id)
    stats = run([".venv/bin/python", "-m", PACKAGE, "serving-stats"], project, env=env).stdout
    counts = {line.split()[0]: int(line.split(": ")[1].split()[0]) for line in stats.splitlines()[1:]}
    assert counts == {"batch": holdout_rows, "online": 2 + 3 + 1}, stats


def test_make_bento_builds_offline_with_the_champion(default_project: Path) -> None:
    done = run(["make", "bento"], default_project)
    env = project_env(default_project) | {"BENTOML_HOME": str(default_project / ".bentoml")}  # as make exports it
    bentos = json.loads(run([".venv/bin/bentoml", "list", "-o", "json"], default_project, env=env).stdout)
    assert bentos and bentos[0]["tag"].startswith("my-mlops-project:"), done.stdout[-2000:]
    models = json.loads(run([".venv/bin/bentoml", "models", "list", "-o", "json"], default_project, env=env).stdout)
    assert any(m["tag"].startswith("my-mlops-project:v") for m in models)
