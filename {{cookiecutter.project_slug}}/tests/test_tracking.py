"""Lineage tags and pinned requirements for logged models."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

from {{ cookiecutter.package_name }} import tables, tracking


def test_pip_requirements_are_pinned_to_installed_versions() -> None:
    pins = tracking.pip_requirements()
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in pins
    assert all("==" in pin for pin in pins)


def test_file_md5_is_the_content_hash(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc" * 1000)
    assert tables.file_md5(path) == hashlib.md5(b"abc" * 1000).hexdigest()


def test_lineage_tags_carry_data_hash_and_validation_outcome(tmp_path) -> None:
    data = tmp_path / "train.parquet"
    data.write_bytes(b"rows")
    report = tmp_path / "validation.json"
    report.write_text(
        json.dumps({"success": True, "statistics": {"successful_expectations": 9, "evaluated_expectations": 9}})
    )
    tags = tracking.lineage_tags({"train": data}, report)
    assert tags["data.train.md5"] == hashlib.md5(b"rows").hexdigest()
    assert tags["validation.success"] == "True"
    assert tags["validation.summary"] == "9/9 expectations passed"
    assert tags["git.commit"]
