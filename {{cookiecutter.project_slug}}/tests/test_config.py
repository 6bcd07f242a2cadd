"""params.yaml loads into strict, typed sections; mistakes are errors that name the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from {{ cookiecutter.package_name }} import config

from .conftest import PROJECT


@pytest.fixture
def params() -> dict:
    return yaml.safe_load((PROJECT / "params.yaml").read_text())


def test_the_shipped_params_load(params: dict) -> None:
    cfg = config.parse(params)
    assert cfg.task in ("classification", "regression")
    assert cfg.train.search.candidates, "the default search has candidates"
    assert cfg.register_.metric in config.metrics_for(cfg.task)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p["train"].update(serach={}), "train.serach: unknown key"),
        (lambda p: p.update(trian={}), "trian: unknown key"),
        (lambda p: p["prepare"].update(test_size=1.5), "prepare.test_size"),
        (lambda p: p["ingest"].update(source="sklearn:nope"), "unknown scikit-learn dataset 'nope'"),
        (lambda p: p["ingest"].update(source="/etc/data.csv"), "must be a relative path under data/external"),
        (
            lambda p: p["ingest"].update(source="data/external/x.xlsx"),
            "neither sklearn:<dataset> nor a .csv or .parquet",
        ),
        (lambda p: p["register"].update(metric="bogus"), "register.metric 'bogus'"),
        (lambda p: p["train"].update(device="tpu"), "train.device"),
        (lambda p: p["train"]["search"].update(candidates=[]), "train.search.candidates"),
        (lambda p: p["train"]["search"]["candidates"][0].update(params={"C": []}), "no values to try for C"),
        (lambda p: p.pop("tracking"), "tracking: Field required"),
    ],
)
def test_a_mistake_is_an_error_naming_it(params: dict, edit, expected: str) -> None:
    broken = copy.deepcopy(params)
    edit(broken)
    with pytest.raises(config.ConfigError) as error:
        config.parse(broken)
    assert expected in str(error.value)


def test_a_metric_of_the_other_task_is_refused(params: dict) -> None:
    other = "rmse" if params["task"] == "classification" else "roc_auc"
    params["train"]["metric"] = other
    with pytest.raises(config.ConfigError, match=f"train.metric '{other}' is not a {params['task']} metric"):
        config.parse(params)


def test_unreadable_files_are_clear(tmp_path) -> None:
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("task: [unclosed")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- a list\n")
    with pytest.raises(config.ConfigError, match="expected a mapping"):
        config.load(tmp_path / "params.yaml")


def test_environment_overrides_tracking_and_serving(params: dict, monkeypatch) -> None:
    cfg = config.parse(params)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("SERVING_DB_URL", "postgresql+psycopg://db/serving")
    assert cfg.tracking.resolved_uri == "http://127.0.0.1:5000"
    assert cfg.serving.resolved_db_url == "postgresql+psycopg://db/serving"
