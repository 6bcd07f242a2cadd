"""End to end, for real: bake, `make setup`, the project's own tests, `make pipeline`, the registry.

The default project is set up once (the ``default_project`` fixture); the tests below run in file order and
each one that edits params.yaml restores it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from .projects import bake, edit_params, registry, run, setup_project

pytestmark = pytest.mark.slow


def restore(project: Path) -> None:
    run(["git", "checkout", "--", "params.yaml"], project)


def test_the_pipeline_made_a_champion_with_child_runs(default_project: Path) -> None:
    state = registry(default_project)
    assert state["champion"] == state["challenger"] == 1
    assert state["child_runs"] >= 2, "each searched candidate is a nested child run"
    registration = json.loads((default_project / "reports" / "registration.json").read_text())
    assert registration["promoted"] is True
    assert json.loads((default_project / "reports" / "validation.json").read_text())["success"] is True
    assert (default_project / "gx/uncommitted/data_docs/local_site/index.html").exists()


def test_the_projects_own_tests_and_lint_pass(default_project: Path) -> None:
    run(["make", "lint"], default_project)
    done = run(["make", "test"], default_project, timeout=2400)  # about 500 generated tests: 818 s at load 5
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_a_second_repro_runs_no_stage(default_project: Path) -> None:
    started = time.perf_counter()
    done = run(["make", "pipeline"], default_project)
    print(f"no-op dvc repro: {time.perf_counter() - started:.1f} s")
    assert "Running stage" not in done.stdout
    assert "up to date" in done.stdout
    status = run([".venv/bin/dvc", "status"], default_project).stdout
    assert "changed" not in status


def test_dvc_push_and_pull_through_the_local_remote(default_project: Path) -> None:
    run([".venv/bin/dvc", "push"], default_project)
    remote = default_project.parent / "my-mlops-project-dvc-remote"
    assert any(remote.rglob("*")), "the default local remote received the data"
    shutil.rmtree(default_project / ".dvc" / "cache")
    (default_project / "data" / "raw" / "dataset.parquet").unlink()
    run([".venv/bin/dvc", "pull"], default_project)
    assert (default_project / "data" / "raw" / "dataset.parquet").exists()


def test_corrupted_data_fails_at_validate_and_the_champion_stays(default_project: Path) -> None:
    before = registry(default_project)
    corrupt = (
        "import pandas as pd; frame = pd.read_parquet('data/raw/dataset.parquet'); frame.loc[:24, 'mean_radius'] = -1.0;"
        " frame.to_csv('data/external/corrupted.csv', index=False)"
    )
    run([".venv/bin/python", "-c", corrupt], default_project)
    edit_params(default_project, lambda p: p["ingest"].update(source="data/external/corrupted.csv"))
    try:
        done = run(["make", "pipeline"], default_project, check=False)
        assert done.returncode != 0
        output = done.stdout + done.stderr
        assert "data validation FAILED" in output
        assert "column 'mean_radius': 25 of 569 rows (4.4%) outside the bound between" in output
        assert "Running stage 'train'" not in output
        assert json.loads((default_project / "reports" / "validation.json").read_text())["success"] is False
        assert registry(default_project) == before
    finally:
        restore(default_project)
        (default_project / "data" / "external" / "corrupted.csv").unlink()
        run(["make", "pipeline"], default_project)


def test_a_worse_model_does_not_become_champion(default_project: Path) -> None:
    before = registry(default_project)
    weak = [
        {"family": "hist_gradient_boosting", "params": {"max_iter": [2], "max_depth": [1], "learning_rate": [0.01]}}
    ]
    edit_params(default_project, lambda p: p["train"]["search"].update(candidates=weak))
    try:
        run(["make", "pipeline"], default_project)
        after = registry(default_project)
        registration = json.loads((default_project / "reports" / "registration.json").read_text())
        assert registration["promoted"] is False
        assert any(r.startswith("FAIL") and "vs champion v1" in r for r in registration["reasons"])
        assert after["champion"] == before["champion"] == 1
        assert after["challenger"] == max(after["versions"]) == max(before["versions"]) + 1
    finally:
        restore(default_project)


def test_regression_on_your_own_csv_with_text_and_missing_values(tmp_path: Path) -> None:
    """Bring-your-own-data: a CSV under data/external, `dvc add`, draft the suite, run the pipeline."""
    project = setup_project(
        bake(
            tmp_path,
            task="regression",
            training_runner="github-hosted",
            runner_labels="ubuntu-24.04",
            dvc_remote="s3",
            dvc_remote_url="s3://bucket/ml",
            license="Apache-2.0",
        )
    )
    shutil.copy(project / "tests" / "fixtures" / "customers.csv", project / "data" / "external" / "customers.csv")
    run([".venv/bin/dvc", "add", "data/external/customers.csv"], project)
    edit_params(
        project,
        lambda p: p["ingest"].update(
            source="data/external/customers.csv", target="lifetime_spend", drop_columns=["customer_id", "churned"]
        ),
    )
    run([".venv/bin/dvc", "repro", "ingest"], project)
    run(["make", "suite"], project)
    run(["make", "pipeline"], project)
    state = registry(project)
    assert state["champion"] == 1
    schema = json.loads((project / "data" / "processed" / "features.json").read_text())
    assert {f["name"] for f in schema["features"] if f["kind"] == "categorical"} == {"plan", "region"}
    assert "r2" in json.loads((project / "reports" / "metrics.json").read_text())["candidate"]
