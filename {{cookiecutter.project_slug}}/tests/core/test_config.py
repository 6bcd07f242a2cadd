"""params.yaml loads into strict, typed sections; mistakes are errors that name the key."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from {{ cookiecutter.package_name }}.core import config, metrics

from ..helpers import PROJECT


@pytest.fixture
def params() -> dict:
    return yaml.safe_load((PROJECT / "params.yaml").read_text())


def test_the_shipped_params_load(params: dict) -> None:
    cfg = config.parse(params)
    assert cfg.task in ("classification", "regression")
    assert cfg.train.search.candidates, "the default search has candidates"
    assert cfg.register_.metric in metrics.TASKS[cfg.task].metrics


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
        (lambda p: p["register"].update(metric="bogus"), "register.metric: 'bogus' is not a known metric"),
        (lambda p: p["train"].update(device="tpu"), "train.device"),
        (lambda p: p["train"]["search"].update(candidates=[]), "train.search.candidates"),
        (lambda p: p["train"]["search"]["candidates"][0].update(params={"C": []}), "no values to try for C"),
        (lambda p: p.pop("tracking"), "tracking: Field required"),
        (
            lambda p: p["tracking"].update(model_name="churn --><script>"),
            "tracking.model_name: 'churn --><script>' cannot name the pull-request review comment",
        ),
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
    with pytest.raises(
        config.ConfigError, match=f"train.metric: '{other}' is a .* metric, not a {params['task']} metric"
    ):
        config.parse(params)


def own_csv(params: dict, task: str) -> dict:
    params["task"] = task
    params["ingest"] = {"source": "data/external/penguins.csv", "target": "species"}
    return params


def test_switching_task_is_one_change_when_task_keys_are_left_out(params: dict) -> None:
    """The shipped params.yaml leaves the task's keys out; only the linear family is the task's own."""
    for task, linear in (("classification", "logistic_regression"), ("regression", "ridge")):
        changed = own_csv(copy.deepcopy(params), task)
        changed["train"]["search"]["candidates"] = [{"family": "hist_gradient_boosting"}]
        cfg = config.parse(changed)
        assert cfg.prepare.stratify is (task == "classification")
        assert cfg.train.metric == cfg.register_.metric == ("roc_auc" if task == "classification" else "r2")
        assert cfg.register_.floor == (0.6 if task == "classification" else 0.0)
        changed["train"]["search"]["candidates"] = [{"family": linear}]
        assert config.parse(changed).task == task


def test_every_cross_check_problem_is_reported_at_once_with_its_fix(params: dict) -> None:
    """A classification config switched to regression by `task` alone, with every task key written out."""
    broken = own_csv(copy.deepcopy(params), "regression")
    broken["ingest"]["source"] = "sklearn:breast_cancer"
    broken["prepare"]["stratify"] = True
    broken["train"]["metric"] = "roc_auc"
    broken["register"].update(metric="log_loss", floor=1.5)
    broken["train"]["search"]["candidates"] = [{"family": "logistic_regression"}, {"family": "hist_gradient_boosting"}]
    with pytest.raises(config.ConfigError) as error:
        config.parse(broken)
    message = str(error.value)
    assert "Traceback" not in message
    for expected in (
        "train.metric: 'roc_auc' is a classification metric, not a regression metric: use one of r2, rmse, mae",
        "register.metric: 'log_loss' is a classification metric",
        "prepare.stratify: true needs classes to stratify on: set it to false for regression",
        "train.search.candidates[0].family: 'logistic_regression' has no regression estimator: use 'ridge'",
        "ingest.source: 'sklearn:breast_cancer' is not a regression dataset: use sklearn:diabetes",
    ):
        assert expected in message
    assert len(message.splitlines()) == 6, message  # the heading and one line per problem


@pytest.mark.parametrize(
    ("metric", "floor", "expected"),
    [
        ("roc_auc", 1.5, "register.floor: 1.5 is outside what roc_auc can be (0..1)"),
        ("r2", 2.0, "register.floor: 2.0 is outside what r2 can be (..1)"),
        ("rmse", -1.0, "register.floor: -1.0 is outside what rmse can be (0..)"),
        ("log_loss", 0.0, "register.floor: 0.0 is the best log_loss possible"),
    ],
)
def test_the_floor_is_checked_against_the_metrics_range_and_direction(params, metric, floor, expected) -> None:
    task = "classification" if metric in ("roc_auc", "log_loss") else "regression"
    changed = own_csv(copy.deepcopy(params), task)
    changed["train"]["search"]["candidates"] = [{"family": "hist_gradient_boosting"}]
    changed["register"].update(metric=metric, floor=floor)
    with pytest.raises(config.ConfigError, match=re.escape(expected)):
        config.parse(changed)


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


def test_a_rare_positive_class_makes_average_precision_the_default(params: dict) -> None:
    """The gate's default metric follows the data: under 10% positives ROC AUC looks good while the rare class is
    mostly missed, so average precision ranks, and its floor sits above its chance level (the share)."""
    rare = own_csv(copy.deepcopy(params), "classification")
    rare["train"]["search"]["candidates"] = [{"family": "hist_gradient_boosting"}]
    cfg = config.parse(rare, positive_share=0.033)
    assert cfg.train.metric == cfg.register_.metric == "average_precision"
    assert cfg.register_.floor == pytest.approx(0.2264)
    assert set(cfg.data_defaults) == {"train.metric", "register.metric", "register.floor"}
    assert "3.3% of the training rows (under 10%)" in cfg.data_defaults["train.metric"]
    assert config.parse(rare, positive_share=0.2).train.metric == "roc_auc"  # not rare: the task's default
    rare["train"]["metric"] = "roc_auc"  # written out: kept, whatever the data
    kept = config.parse(rare, positive_share=0.033)
    assert kept.train.metric == kept.register_.metric == "roc_auc" and kept.register_.floor == 0.6
    assert kept.data_defaults == {}


def test_load_reads_the_positive_share_prepare_wrote(params: dict, tmp_path) -> None:
    changed = own_csv(copy.deepcopy(params), "classification")
    changed["train"]["search"]["candidates"] = [{"family": "hist_gradient_boosting"}]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(changed))
    assert config.load(tmp_path / "params.yaml").train.metric == "roc_auc"  # no features.json yet
    features = tmp_path / changed["paths"]["features"]
    features.parent.mkdir(parents=True)
    features.write_text('{"task": "classification", "features": [], "positive_share": 0.021}')
    assert config.load(tmp_path / "params.yaml").train.metric == "average_precision"
    features.write_text("not json")  # prepare's next run rewrites it: loading the config does not fail on it
    assert config.load(tmp_path / "params.yaml").train.metric == "roc_auc"


def test_the_threshold_and_the_positive_class_follow_the_task(params: dict) -> None:
    for task, objective in (("classification", "f1"), ("regression", "none")):
        changed = own_csv(copy.deepcopy(params), task)
        changed["train"]["search"]["candidates"] = [{"family": "hist_gradient_boosting"}]
        assert config.parse(changed).train.threshold.objective == objective
    changed["train"]["threshold"] = {"objective": {"recall_at_precision": 0.5}}
    changed["prepare"]["positive_class"] = "Yes"
    with pytest.raises(config.ConfigError) as error:
        config.parse(changed)
    assert "train.threshold.objective: recall_at_precision 0.5 tunes a classifier's decision threshold" in str(
        error.value
    )
    assert "prepare.positive_class: 'Yes' names a class; regression has none" in str(error.value)
    changed["train"]["threshold"] = {"objective": "f2"}
    with pytest.raises(config.ConfigError, match=re.escape("train.threshold: objective: 'f2' is not one of")):
        config.parse(changed)
