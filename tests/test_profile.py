"""Profiling and deployment from the same artifact, in the default project (issue 23): every registered version
profiled, `make profile` against the real service sized into manifests that validate, and `make edge`'s bundle in a
fresh virtual environment with nothing of the project's answering the holdout as `make batch` does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .projects import KUBERNETES, project_env, run

pytestmark = pytest.mark.slow
PACKAGE = "my_mlops_project"
PROFILE_TAGS = {
    f"profile.{name}"
    for name in ("latency_p50_ms", "latency_p99_ms", "rows_per_s", "size_mb", "load_s", "rss_mb", "runtime")
}

VERSION_TAGS = """
import json
from my_mlops_project.core import config
from my_mlops_project.tracking import runs
cfg = config.load()
client = runs.configure(cfg.tracking)
versions = client.search_model_versions(f"name = '{cfg.tracking.model_name}'")
print(json.dumps({v.version: v.tags for v in versions}))
"""

BATCH_ROWS = """
import json, sys
from sqlalchemy import select
from my_mlops_project.predictions import database
query = select(database.scored.c.prediction).where(database.scored.c.request_id == sys.argv[2])
with database.connect(sys.argv[1]).connect() as connection:
    print(json.dumps(list(connection.execute(query.order_by(database.scored.c.row_index)).scalars())))
"""

SERVED_PROBABILITIES = """
import json, sys
import pandas as pd
from my_mlops_project import serving
from my_mlops_project.core import config
from my_mlops_project.training import features
served = serving.champion(config.load())
frame = features.conform(pd.read_csv(sys.argv[1]), served.schema)
print(json.dumps(served.predict(frame)[1].tolist()))
"""


def last_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_version_the_pipeline_registered_carries_its_profile(default_project: Path) -> None:
    versions = last_json(run([".venv/bin/python", "-c", VERSION_TAGS], default_project))
    assert versions
    for version, tags in versions.items():
        assert set(tags) >= PROFILE_TAGS, (version, sorted(tags))
        assert float(tags["profile.latency_p50_ms"]) <= float(tags["profile.latency_p99_ms"])
    registration = json.loads((default_project / "reports" / "registration.json").read_text())
    assert registration["profile"]["runtime"] == versions[str(registration["version"])]["profile.runtime"]


def test_make_profile_sizes_the_real_service_into_manifests_that_validate(default_project: Path) -> None:
    manifest = default_project / "deploy" / "k8s" / "serving.yaml"
    before = manifest.read_text()
    try:
        # When the real service is load-tested for a target rate, and the manifests are rendered from it
        done = run(["make", "profile", "RPS=150", "LOAD_SECONDS=3"], default_project, timeout=600)
        assert "per replica: cpu " in done.stdout
        profile = json.loads((default_project / "reports" / "profile.json").read_text())
        assert profile["load_test"]["requests"] > 0 and profile["load_test"]["errors"] == 0
        run(["make", "manifests"], default_project)
        documents = list(yaml.safe_load_all(manifest.read_text()))
        # Then every document is valid for the Kubernetes API, strictly
        for document in documents:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
        # and carries the profile's requests and bounds, the image still pinned as it was
        by_kind = {d["kind"]: d for d in documents}
        container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        sizing = profile["sizing"]
        assert container["resources"] == {
            "requests": {"cpu": f"{sizing['cpu_request_m']}m", "memory": f"{sizing['memory_request_mi']}Mi"},
            "limits": {"memory": f"{sizing['memory_limit_mi']}Mi"},
        }
        assert by_kind["Deployment"]["spec"]["replicas"] == sizing["min_replicas"] >= 2
        hpa = by_kind["HorizontalPodAutoscaler"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (sizing["min_replicas"], sizing["max_replicas"])
        pinned = next(line for line in before.splitlines() if "@sha256:" in line)
        assert pinned in manifest.read_text().splitlines()
    finally:
        manifest.write_text(before)


def test_the_edge_bundle_in_a_fresh_venv_answers_the_holdout_like_make_batch(
    default_project: Path, tmp_path: Path
) -> None:
    project = default_project
    # Given the champion bundled for the edge
    done = run(["make", "edge"], project)
    bundle = project / done.stdout.strip().splitlines()[-1]
    assert (bundle.parent / f"{bundle.name}.tar.gz").exists()
    # installed into a fresh virtual environment from its requirements alone (hashes required, uv's cache)
    venv = tmp_path / "edge-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = [".venv/bin/uv", "pip", "install", "--quiet", "--offline", "--require-hashes"]
    run([*install, "--python", str(venv / "bin" / "python"), "-r", str(bundle / "requirements.txt")], project)
    python = str(venv / "bin" / "python")
    importable = "import importlib.util as u, json, sys; print(json.dumps([m for m in sys.argv[1:] if u.find_spec(m)]))"
    wanted = ["numpy", "onnxruntime", "mlflow", "bentoml", "pandas", "sklearn", PACKAGE]
    found = last_json(subprocess.run([python, "-c", importable, *wanted], capture_output=True, text=True, check=True))
    assert found == ["numpy", "onnxruntime"]
    # and the holdout as a CSV, scored by make batch into a serving layer of this test's own
    csv = tmp_path / "holdout.csv"
    write_csv = "import pandas as pd, sys; pd.read_parquet(sys.argv[1]).drop(columns=['target']).to_csv(sys.argv[2], index=False)"
    run([".venv/bin/python", "-c", write_csv, "data/processed/test.parquet", str(csv)], project)
    db_url = f"sqlite:///{tmp_path / 'serving.db'}"
    env = project_env(project) | {"SERVING_DB_URL": db_url, "INPUT": str(csv), "BATCH_ID": "edge"}
    run(["make", "batch"], project, env=env)
    stored = last_json(run([".venv/bin/python", "-c", BATCH_ROWS, db_url, "edge"], project))
    served = last_json(run([".venv/bin/python", "-c", SERVED_PROBABILITIES, str(csv)], project))
    # When the bundle's predict.py reads it in the fresh environment, outside the project
    with csv.open() as stdin:
        edge = subprocess.run(
            [python, "predict.py"], cwd=bundle, stdin=stdin, capture_output=True, text=True, check=True
        )
    answers = [json.loads(line) for line in edge.stdout.splitlines()]
    # Then it gives every row make batch's label, and the served model's probabilities within 1e-5
    assert [a["prediction"] for a in answers] == stored
    classes = [str(c) for c in json.loads((bundle / "schema.json").read_text())["classes"]]
    assert len(served) == len(answers)
    for answer, expected in zip(answers, served, strict=True):
        assert max(abs(answer["probabilities"][c] - p) for c, p in zip(classes, expected, strict=True)) <= 1e-5
    # and a malformed row stops it before any answer, naming the row and the column
    lines = csv.read_text().splitlines()
    cells = lines[2].split(",")
    cells[0] = "wide"
    (tmp_path / "bad.csv").write_text("\n".join([lines[0], lines[1], ",".join(cells), *lines[3:]]) + "\n")
    with (tmp_path / "bad.csv").open() as stdin:
        refused = subprocess.run([python, "predict.py"], cwd=bundle, stdin=stdin, capture_output=True, text=True)
    column = lines[0].split(",")[0]
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"row 2, column {column!r}: 'wide' is not a number" in refused.stderr
