"""make edge: the champion as a bundle that runs without the project; its predict.py answers like the batch job."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest
from mlflow import MlflowClient
from sqlalchemy import select

from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.predictions import database
from {{ cookiecutter.package_name }}.serving import batch, batch_checks, edge, edge_predict

from ..helpers import PROJECT, run_pipeline, write_params

FILES = ["README.md", "model.onnx", "predict.py", "requirements.txt", "schema.json"]


def test_missing_cells_are_what_the_batch_jobs_csv_reader_reads_as_missing() -> None:
    assert set(pacsv.ConvertOptions().null_values) == edge_predict.MISSING


def test_the_requirements_are_the_runtimes_packages_as_the_lock_pins_them_with_hashes() -> None:
    text = edge.requirements(PROJECT / "requirements.lock")
    entries = [block for block in text.split("\n") if block and not block[0].isspace() and block[0] != "#"]
    names = {edge._normal(line.split("==")[0]) for line in entries}
    assert {"onnxruntime", "numpy", "protobuf", "flatbuffers", "packaging"} <= names
    assert not names & {"pandas", "scikit-learn", "mlflow", "bentoml"}
    locked = edge.lock_entries(PROJECT / "requirements.lock")
    for line in entries:  # each entry as the lock has it, every one with its hashes
        name = edge._normal(line.split("==")[0])
        block = next(b for b in locked[name] if b.splitlines()[0] == line)
        assert block in text and "--hash=sha256:" in block


def test_a_package_the_lock_does_not_pin_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==2.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(UserError, match=r"does not pin .*onnxruntime"):
        edge.requirements(lock)


@pytest.fixture(scope="module")
def bundle(trained_project: Path, champion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..helpers import inside

    with inside(trained_project):
        return edge.build(config.load("params.yaml"), tmp_path_factory.mktemp("edge"), PROJECT / "requirements.lock")


def predict(bundle: Path, csv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with csv.open() as stdin:
        return subprocess.run(
            [sys.executable, str(bundle / "predict.py"), *args], stdin=stdin, capture_output=True, text=True
        )


@pytest.mark.slow
def test_the_bundle_holds_the_champions_model_schema_and_a_reproducible_archive(bundle: Path, champion) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == FILES
    exported = serving.model.onnx_path(champion)
    assert exported is not None and (bundle / "model.onnx").read_bytes() == exported.read_bytes()
    schema = json.loads((bundle / "schema.json").read_text())
    served = serving.stored_schema(champion)
    assert [c["name"] for c in schema["columns"]] == served.names
    assert schema["classes"] == list(served.classes) and schema["task"] == served.task
    region = next(c for c in schema["columns"] if c["name"] == "region")
    assert region["type"] == "text" and region["values"]  # the categories the one-hot encoder was fitted with
    assert (bundle / "predict.py").read_text() == Path(edge_predict.__file__).read_text()
    with tarfile.open(bundle.with_name(bundle.name + ".tar.gz")) as archive:
        assert archive.getnames() == [f"{bundle.name}/{name}" for name in FILES]
        packed = archive.extractfile(f"{bundle.name}/schema.json")
        assert packed is not None and packed.read() == (bundle / "schema.json").read_bytes()


@pytest.mark.slow
def test_predict_py_answers_the_holdout_like_the_batch_job(bundle: Path, in_trained: Path, tmp_path, monkeypatch):
    # Given the holdout as a CSV (text columns and missing values), scored by the batch job into the serving layer
    cfg = config.load("params.yaml")
    db_url = f"sqlite:///{tmp_path / 'serving.db'}"
    monkeypatch.setenv("SERVING_DB_URL", db_url)
    csv = tmp_path / "holdout.csv"
    frame = pd.read_parquet(cfg.paths.holdout)
    frame.drop(columns=[cfg.ingest.target]).to_csv(csv, index=False)
    batch.run(cfg, csv, batch_id="edge", progress=False)
    query = select(database.scored.c.prediction).where(database.scored.c.request_id == "edge")
    with database.connect(db_url).connect() as connection:
        stored = list(connection.execute(query.order_by(database.scored.c.row_index)).scalars())
    # When the bundle's predict.py reads the same CSV
    done = predict(bundle, csv)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    # Then it answers every row as the batch job did: the same label and the served model's probabilities (a
    # classifier), or the same value (regression)
    served = serving.champion(cfg)
    predictions = [a["prediction"] for a in answers]
    if not served.classification:
        assert np.allclose(predictions, stored, rtol=1e-6, atol=1e-6)
        return
    assert predictions == stored
    _, probabilities = served.predict(batch_checks.check(frame, served.schema))
    assert probabilities is not None
    classes = [str(c) for c in served.schema.classes]
    mine = np.array([[a["probabilities"][c] for c in classes] for a in answers])
    assert np.max(np.abs(mine - probabilities)) <= 1e-5


@pytest.mark.slow
def test_a_malformed_row_is_refused_naming_the_row_and_the_column(bundle: Path, in_trained: Path, tmp_path) -> None:
    cfg = config.load("params.yaml")
    frame = pd.read_parquet(cfg.paths.holdout).head(5).astype(object)
    frame.loc[3, "monthly_fee"] = "twelve"
    frame.loc[1, "region"] = "atlantis"
    csv = tmp_path / "bad.csv"
    frame.to_csv(csv, index=False)
    done = predict(bundle, csv)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        "error: the input does not fit schema.json:\n  row 4, column 'monthly_fee': 'twelve' is not a number\n"
    )
    # an unknown category is accepted as the service accepts it, unless --strict
    strict = predict(bundle, csv, "--strict")
    assert "row 2, column 'region': 'atlantis' is not one of the values the model knows" in strict.stderr
    frame.drop(columns=["tenure_months"]).to_csv(csv, index=False)
    assert "error: the input has no column(s) 'tenure_months'" in predict(bundle, csv).stderr


@pytest.mark.slow
def test_a_champion_without_onnx_parity_is_refused_with_the_reason(tmp_project: Path, cfg, bentoml_home) -> None:
    params = cfg.model_dump(by_alias=True, mode="json")
    params["train"]["search"]["candidates"] = [{"family": "dummy", "params": {}}]
    params["register"]["floor"] = None
    params["tracking"]["model_name"] = "edge-refused"  # its own name in the session's BentoML store
    dummy = write_params(tmp_project, params)
    run_pipeline(dummy)  # the gate refuses it (it is the baseline): an operator makes it champion anyway
    MlflowClient().set_registered_model_alias("edge-refused", "champion", "1")
    with pytest.raises(UserError) as refused:
        edge.build(dummy, tmp_project / "dist", PROJECT / "requirements.lock")
    message = str(refused.value)
    assert message.startswith("edge-refused v1 has no ONNX export whose parity held (")
    assert "Dummy" in message and "does not convert to ONNX" in message and "served by scikit-learn" in message
    assert not (tmp_project / "dist").exists()
