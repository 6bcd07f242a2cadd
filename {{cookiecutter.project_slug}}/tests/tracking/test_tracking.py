"""Lineage tags and pinned requirements for logged models."""

from __future__ import annotations

import hashlib
from importlib import metadata

from {{ cookiecutter.package_name }}.core.reports import Statistics, Validation
from {{ cookiecutter.package_name }}.data import tables
from {{ cookiecutter.package_name }}.tracking import runs


def test_pip_requirements_are_pinned_to_installed_versions() -> None:
    pins = runs.pip_requirements()
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in pins
    assert all("==" in pin for pin in pins)


def test_logging_a_model_still_warns_about_a_pin_the_environment_does_not_meet(monkeypatch) -> None:
    """pip_requirements hands MLflow the import names of the pinned packages (sparing it a scan of every installed
    distribution); its check of the pins against the installed versions still finds a mismatch."""
    from mlflow.utils import requirements_utils

    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)  # as in a fresh process
    runs.pip_requirements(("scikit-learn", "onnx"))
    seeded: dict[str, list[str]] | None = getattr(requirements_utils, "_MODULES_TO_PACKAGES")  # noqa: B009
    assert seeded is not None and seeded["sklearn"] == ["scikit-learn"]

    def scan() -> None:
        raise AssertionError("MLflow scanned every installed distribution")

    monkeypatch.setattr(requirements_utils.importlib_metadata, "packages_distributions", scan)
    warnings = []
    monkeypatch.setattr(requirements_utils._logger, "warning", lambda message, *args: warnings.append(message % args))
    requirements_utils.warn_dependency_requirement_mismatches(
        ["scikit-learn==0.0.1", "onnx==" + metadata.version("onnx")]
    )
    assert len(warnings) == 1
    assert "scikit-learn (current: " + metadata.version("scikit-learn") in warnings[0]


def test_file_md5_is_the_content_hash(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc" * 1000)
    assert tables.file_md5(path) == hashlib.md5(b"abc" * 1000).hexdigest()


def test_lineage_tags_carry_data_hash_and_validation_outcome(tmp_path) -> None:
    data = tmp_path / "train.parquet"
    data.write_bytes(b"rows")
    report = tmp_path / "validation.json"
    counts = Statistics(
        evaluated_expectations=9, successful_expectations=9, unsuccessful_expectations=0, success_percent=100.0
    )
    Validation(success=True, statistics=counts, failures=[]).save(report)
    tags = runs.lineage_tags({"train": data}, report)
    assert tags["data.train.md5"] == hashlib.md5(b"rows").hexdigest()
    assert tags["validation.success"] == "True"
    assert tags["validation.summary"] == "9/9 expectations passed"
    assert tags["git.commit"]


def test_the_logged_datasets_schema_is_mlflows_own_inference() -> None:
    """runs.log_dataset's quick schema equals MLflow's value-by-value inference, missing values and all."""
    import numpy as np
    import pandas as pd
    from mlflow.types.utils import _infer_schema

    rows = 3_000  # past the 1,000 rows the types are read from: a value missing only later still counts
    frame = pd.DataFrame(
        {
            "measure": np.linspace(0, 1, rows),
            "count": np.arange(rows),
            "flag": np.arange(rows) % 2 == 0,
            "text": [f"t{i % 7}" for i in range(rows)],
            "when": pd.date_range("2026-01-01", periods=rows, freq="h"),
        }
    )
    frame.loc[2_500, "measure"] = np.nan
    frame.loc[2_600, "text"] = None

    quick = runs._column_schema(frame)

    assert quick == _infer_schema(frame)
    assert [spec.required for spec in quick.inputs] == [False, True, True, False, True]
