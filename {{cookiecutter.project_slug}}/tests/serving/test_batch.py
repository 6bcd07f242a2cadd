"""The cold path: batch.py scores a file with the champion into the serving layer, idempotently and crash-safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from {{ cookiecutter.package_name }} import __main__ as cli
from {{ cookiecutter.package_name }} import serving
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.schema import Feature, Schema
from {{ cookiecutter.package_name }}.data import tables
from {{ cookiecutter.package_name }}.predictions import database, queries, store
from {{ cookiecutter.package_name }}.serving import batch, batch_checks
from {{ cookiecutter.package_name }}.training import features


@pytest.fixture
def scoring(in_trained: Path, bentoml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The trained project as working directory, with a serving-layer database of this test's own."""
    db_url = f"sqlite:///{tmp_path / 'serving.db'}"
    monkeypatch.setenv("SERVING_DB_URL", db_url)
    return config.load("params.yaml"), database.connect(db_url)


def holdout(times: int, tmp_path: Path, name: str = "holdout.parquet") -> Path:
    frame = pd.read_parquet("data/processed/test.parquet")
    path = tmp_path / name
    pd.concat([frame] * times, ignore_index=True).to_parquet(path)
    return path


def keys_in(engine, batch_id: str) -> list[str]:
    """The row keys stored for one batch, read through the `scored` view as an analyst would."""
    query = select(database.scored.c.row_key).where(
        database.scored.c.source == database.BATCH, database.scored.c.request_id == batch_id
    )
    with engine.connect() as connection:
        return sorted(connection.execute(query).scalars())


def test_one_row_per_input_row_with_batch_id_key_version_and_prediction(scoring, tmp_path) -> None:
    cfg, engine = scoring
    path = holdout(1, tmp_path)
    result = batch.run(cfg, path, batch_id="nightly", progress=False)
    rows = len(pd.read_parquet(path))
    assert (result.rows, result.written, result.skipped) == (rows, rows, 0)
    assert queries.count(engine, database.BATCH, "nightly") == rows
    assert keys_in(engine, "nightly") == sorted(str(i) for i in range(rows))
    summary = queries.summary(engine)
    assert summary == [
        {
            "source": "batch",
            "model_name": result.model_name,
            "model_version": result.model_version,
            "rows": rows,
            "requests": 1,
        }
    ]


def test_the_stored_predictions_are_the_champions(scoring, tmp_path) -> None:
    cfg, engine = scoring
    path = holdout(3, tmp_path)
    batch.run(cfg, path, batch_id="checked", chunk_rows=100, progress=False)
    served = serving.champion(cfg)
    expected, _ = served.predict(batch_checks.check(pd.read_parquet(path), served.schema))
    query = (
        select(database.scored.c.prediction)
        .where(database.scored.c.request_id == "checked")
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        assert list(connection.execute(query).scalars()) == expected.tolist()


def test_a_batch_id_is_not_resumed_on_another_file(scoring, tmp_path) -> None:
    cfg, engine = scoring
    batch.run(cfg, holdout(1, tmp_path), batch_id="daily", progress=False)
    before = queries.count(engine)
    with pytest.raises(store.BatchConflict, match="daily"):
        batch.run(cfg, holdout(2, tmp_path, "bigger.parquet"), batch_id="daily", progress=False)
    assert queries.count(engine) == before


def test_a_rerun_writes_nothing_twice(scoring, tmp_path) -> None:
    cfg, engine = scoring
    path = holdout(2, tmp_path)
    first = batch.run(cfg, path, progress=False)
    again = batch.run(cfg, path, progress=False)
    assert first.batch_id == again.batch_id  # the default id comes from the file, so a rerun resumes
    assert (again.written, again.skipped) == (0, first.rows)
    assert queries.count(engine, database.BATCH) == first.rows


def crash_on_the_fourth_chunk(cfg, path: Path, batch_id: str, monkeypatch) -> None:
    """Run a job in chunks of a tenth of the file that is interrupted as it writes its fourth chunk."""
    rows = len(pd.read_parquet(path))
    real_insert, calls = store.insert_scored, []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt("killed")
        return real_insert(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(store, "insert_scored", crashing)
        with pytest.raises(KeyboardInterrupt):
            batch.run(cfg, path, batch_id=batch_id, chunk_rows=rows // 10, progress=False)


def test_a_crash_mid_run_then_a_rerun_leaves_exactly_one_row_per_input_row(scoring, tmp_path, monkeypatch) -> None:
    cfg, engine = scoring
    path = holdout(10, tmp_path)
    rows = len(pd.read_parquet(path))
    crash_on_the_fourth_chunk(cfg, path, "crash", monkeypatch)
    written = queries.count(engine, database.BATCH, "crash")
    assert 0 < written < rows
    result = batch.run(cfg, path, batch_id="crash", chunk_rows=rows // 10, progress=False)
    assert (result.skipped, result.written) == (written, rows - written)
    assert keys_in(engine, "crash") == sorted(str(i) for i in range(rows))
    assert queries.count(engine, database.BATCH, "crash") == rows


@pytest.mark.slow  # a real subprocess, killed with SIGKILL mid-run
def test_a_killed_process_resumes_without_loss_or_duplicates(scoring, in_trained, bentoml_home, tmp_path) -> None:
    # given a job on a large file, killed with SIGKILL once some chunks are in
    cfg, engine = scoring
    path = holdout(max(1, 300_000 // len(pd.read_parquet("data/processed/test.parquet"))), tmp_path)
    rows = len(pd.read_parquet(path))
    command = [
        sys.executable,
        "-m",
        cli.__package__,
        "batch",
        "--input",
        str(path),
        "--batch-id",
        "killed",
        "--chunk-rows",
        "1000",
    ]
    job = subprocess.Popen(
        command, env=os.environ | {"BENTOML_HOME": str(bentoml_home)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while queries.count(engine, database.BATCH, "killed") == 0 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    written = queries.count(engine, database.BATCH, "killed")
    assert 0 < written < rows, (
        f"the job was not killed mid-run ({written} of {rows}): {job.stderr.read()[-2000:] if job.stderr else b''!r}"
    )
    # when it runs again
    result = batch.run(cfg, path, batch_id="killed", progress=False)
    # then every input row has exactly one row
    assert result.skipped == written
    assert queries.count(engine, database.BATCH, "killed") == rows
    assert len(keys_in(engine, "killed")) == rows


def test_a_key_column_names_the_rows(scoring, tmp_path) -> None:
    cfg, engine = scoring
    frame = pd.read_parquet("data/processed/test.parquet")
    frame.insert(0, "id", [f"row-{i}" for i in range(len(frame))])
    path = tmp_path / "keyed.csv"
    frame.to_csv(path, index=False)
    batch.run(cfg, path, batch_id="keyed", key_column="id", progress=False)
    assert keys_in(engine, "keyed") == sorted(frame["id"])


def test_input_without_a_model_feature_is_refused_before_anything_is_written(scoring, tmp_path, capsys) -> None:
    cfg, engine = scoring
    frame = pd.read_parquet("data/processed/test.parquet")
    dropped = Schema.load(Path("data/processed/features.json")).names[0]  # the holdout has other columns too (ids)
    path = tmp_path / "missing.parquet"
    frame.drop(columns=[dropped]).to_parquet(path)
    with pytest.raises(features.SchemaMismatch, match=dropped):
        batch.run(cfg, path, progress=False)
    assert queries.count(engine) == 0
    # and on the command line it is one clear line, exit 1
    assert cli.main(["batch", "--input", str(path)]) == 1
    err = capsys.readouterr().err
    assert "does not match the model's schema" in err and dropped in err and "Traceback" not in err
    assert queries.count(engine) == 0


def test_text_in_a_numeric_feature_is_refused_naming_the_column(scoring, tmp_path) -> None:
    cfg, engine = scoring
    schema = serving.stored_schema(serving.import_champion(cfg))
    numeric = schema.of_kind("numeric")[0]
    frame = pd.read_parquet("data/processed/test.parquet")
    frame[numeric] = frame[numeric].astype(object)
    frame.loc[frame.index[-1], numeric] = "twelve"
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(features.SchemaMismatch, match=numeric):
        batch.run(cfg, path, progress=False)
    assert queries.count(engine) == 0


def test_chunks_stream_a_csv_in_fixed_row_counts_across_reader_blocks(in_trained, tmp_path, monkeypatch) -> None:
    # given a CSV read in blocks far smaller than a chunk (so chunks are cut across blocks)
    frame = pd.concat([pd.read_parquet("data/processed/test.parquet")] * 4, ignore_index=True)
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setattr(tables, "CSV_BLOCK_BYTES", 4096)
    numeric = list(frame.select_dtypes("number").columns)
    # when it is streamed in chunks of 70 rows
    chunks = list(tables.chunks(path, list(frame.columns), numeric=numeric, rows=70))
    # then every chunk but the last has 70 rows, indexed by file position, and together they are the file
    assert [len(c) for c in chunks[:-1]] == [70] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= 70
    streamed = pd.concat(chunks)
    assert streamed.index.tolist() == list(range(len(frame)))
    pd.testing.assert_frame_equal(
        streamed[numeric], pd.read_csv(path)[numeric].astype("float64"), check_index_type=False
    )


def test_a_csv_scored_in_small_chunks_stores_the_in_memory_predictions(scoring, tmp_path) -> None:
    cfg, engine = scoring
    frame = pd.concat([pd.read_parquet("data/processed/test.parquet")] * 3, ignore_index=True)
    path = tmp_path / "holdout.csv"
    frame.to_csv(path, index=False)
    result = batch.run(cfg, path, batch_id="csv", chunk_rows=37, progress=False)
    served = serving.champion(cfg)
    expected, _ = served.predict(batch_checks.check(pd.read_csv(path), served.schema))
    query = (
        select(database.scored.c.prediction)
        .where(database.scored.c.request_id == "csv")
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        assert list(connection.execute(query).scalars()) == expected.tolist()
    assert result.rows == len(frame)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_value_in_the_last_chunk_is_refused_before_the_first_chunk_is_written(scoring, tmp_path, suffix) -> None:
    # given a file whose very last row has text in a numeric feature, scored in many small chunks
    cfg, engine = scoring
    numeric = serving.champion(cfg).schema.of_kind("numeric")[0]
    frame = pd.concat([pd.read_parquet("data/processed/test.parquet")] * 3, ignore_index=True)
    frame[numeric] = frame[numeric].astype(object)
    frame.loc[frame.index[-1], numeric] = "twelve"
    path = tmp_path / f"late{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.astype({numeric: str}).to_parquet(path)
    # when it is scored, then it is refused naming the column and the value, and nothing is written
    with pytest.raises(features.SchemaMismatch, match=f"{numeric}.*twelve"):
        batch.run(cfg, path, chunk_rows=20, progress=False)
    assert queries.count(engine) == 0


def test_a_key_repeated_in_another_chunk_is_refused_before_anything_is_written(scoring, tmp_path) -> None:
    cfg, engine = scoring
    frame = pd.read_parquet("data/processed/test.parquet")
    frame.insert(0, "id", [f"row-{i}" for i in range(len(frame))])
    frame.loc[frame.index[-1], "id"] = "row-0"
    path = tmp_path / "keys.parquet"
    frame.to_parquet(path)
    with pytest.raises(config.UserError, match="'id' must be unique"):
        batch.run(cfg, path, key_column="id", chunk_rows=10, progress=False)
    assert queries.count(engine) == 0


def test_the_arrow_path_gives_the_model_what_conform_gives_it(tmp_path) -> None:
    # given a chunk with every kind of column a file brings: numbers as floats, as integers with a gap, as text and
    # as an all-empty column; categories as text with an empty value and a gap, and as integers
    schema = Schema(
        target="y",
        task="classification",
        features=(
            *(Feature(name, "numeric", "float64") for name in ("real", "count", "typed_as_text", "empty")),
            *(Feature(name, "categorical", "object") for name in ("plan", "code")),
        ),
        classes=(0, 1),
    )
    frame = pd.DataFrame(
        {
            "real": [1.5, None, 1e300, -0.0],
            "count": pd.array([1, None, 2**53 + 1, 7], dtype="Int64"),
            "typed_as_text": ["1.25", None, "3", "-4e2"],
            "empty": [None, None, None, None],
            "plan": ["pro", "", None, "basic"],
            "code": [3, 1, 2, 3],
            "unused": ["a", "b", "c", "d"],
        }
    )
    path = tmp_path / "kinds.parquet"
    frame.to_parquet(path)
    # when it is read as Arrow and turned into the model's arrays
    [(start, table)] = list(tables.arrow_chunks(path, schema.names, numeric=schema.of_kind("numeric"), rows=10))
    arrays = batch.columns_of(table, schema)
    # then they are what conform made of the same chunk as a DataFrame (values and dtypes)
    [chunk] = list(tables.chunks(path, schema.names, numeric=schema.of_kind("numeric"), rows=10))
    conformed = features.conform(chunk, schema)
    assert start == 0 and list(arrays) == schema.names
    for name in schema.names:
        expected = conformed[name].to_numpy()
        assert arrays[name].dtype == expected.dtype, name
        assert pd.isna(arrays[name]).tolist() == pd.isna(expected).tolist(), name
        assert [v for v in arrays[name] if not pd.isna(v)] == [v for v in expected if not pd.isna(v)], name
    # and a sample of its rows keeps the features as monitoring reads them: numbers, text, None for missing
    sample = batch.sample_inputs(arrays, 0, np.array([1, 3]))
    assert sample == {
        1: {"real": None, "count": None, "typed_as_text": None, "empty": None, "plan": None, "code": "1"},
        3: {"real": -0.0, "count": 7.0, "typed_as_text": -400.0, "empty": None, "plan": "basic", "code": "3"},
    }


def test_the_sample_keeps_the_features_of_its_rows_also_across_a_crash(scoring, tmp_path, monkeypatch) -> None:
    # given a job with a sample of 7 rows, interrupted on its fourth chunk and run again
    cfg, engine = scoring
    cfg = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"batch_sample_rows": 7})})
    path = holdout(10, tmp_path)
    rows = len(pd.read_parquet(path))
    crash_on_the_fourth_chunk(cfg, path, "sampled", monkeypatch)
    batch.run(cfg, path, batch_id="sampled", chunk_rows=rows // 10, progress=False)
    # then exactly the sample's rows keep their features, as the champion's schema reads them from the file
    query = (
        select(database.scored.c.row_index, database.scored.c.inputs)
        .where(database.scored.c.request_id == "sampled", database.scored.c.inputs.is_not(None))
        .order_by(database.scored.c.row_index)
    )
    with engine.connect() as connection:
        kept = dict(connection.execute(query).tuples().all())
    positions = batch.sample_positions(rows, tables.file_md5(path), 7)
    assert list(kept) == positions.tolist()
    schema = serving.champion(cfg).schema
    conformed = features.conform(pd.read_parquet(path), schema)
    for position, inputs in kept.items():
        expected = conformed.loc[position]
        assert inputs == {name: (None if pd.isna(expected[name]) else expected[name]) for name in schema.names}
