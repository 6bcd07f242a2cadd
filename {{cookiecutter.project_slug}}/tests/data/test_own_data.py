"""Bringing your own data: params.yaml is edited with its comments kept, and a task switch is one change."""

from __future__ import annotations

import shutil

import pytest

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.data import own_data

from ..helpers import PROJECT


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(PROJECT / "params.yaml", path)
    return path


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_switching_task_edits_only_what_follows_the_task(params_file, task) -> None:
    before = config.load(params_file)
    changed = own_data.edit_params(
        params_file, source="data/external/penguins.csv", target="species", task=task, drop=["id"], suite="penguins"
    )
    cfg = config.load(params_file)  # the cross-checks pass: nothing else needed changing
    assert cfg.task == task and cfg.ingest.source == "data/external/penguins.csv"
    assert cfg.ingest.target == "species" and cfg.ingest.drop_columns == ("id",) and cfg.validate_.suite == "penguins"
    text = params_file.read_text()
    assert "# The quality gate" in text, "comments are kept"
    families = [c.family for c in cfg.train.search.candidates]
    assert ("ridge" in families) is (task == "regression")
    assert ("logistic_regression" in families) is (task == "classification")
    if task != before.task:
        assert any(line.startswith("task:") for line in changed)
        assert "alpha: [0.1, 1.0, 10.0]" in text or "C: [0.1, 1.0, 10.0]" in text


def test_a_missing_target_is_refused_before_anything_changes(tmp_path, params_file) -> None:
    data = tmp_path / "mine.csv"
    data.write_text("a,b\n1,2\n")
    with pytest.raises(config.UserError, match=r"TARGET=c is not a column of .*mine.csv; its columns are a, b"):
        own_data.bring(data, "c", params_file=params_file)
    assert params_file.read_text() == (PROJECT / "params.yaml").read_text()


def test_suite_names_follow_the_file() -> None:
    assert own_data.suite_name(own_data.Path("data/external/my penguins (v2).csv")) == "my_penguins_v2"


def test_a_new_table_gets_the_auto_search_bounded_by_time(params_file) -> None:
    changed = own_data.edit_params(
        params_file, source="data/external/penguins.csv", target="species", task=None, drop=None, suite="penguins"
    )

    search = config.load(params_file).train.search
    assert search.strategy == "auto" and search.max_trials is None
    assert "train.search.strategy: 'grid' -> 'auto'" in changed
    assert any(line.startswith("train.search.max_trials: removed") for line in changed)
    assert "# grid (every combination)" in params_file.read_text(), "the strategy's comment is kept"
