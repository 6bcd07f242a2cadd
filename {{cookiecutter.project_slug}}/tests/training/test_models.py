"""Model families, the training device, and XGBoost on any labels (the GPU runner's family, tested on the CPU)."""

from __future__ import annotations

import importlib.util
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core import families
from {{ cookiecutter.package_name }}.core.errors import UserError
from {{ cookiecutter.package_name }}.training import models


@pytest.fixture
def no_probe(monkeypatch):
    """Fail the test if anything asks whether there is a GPU."""

    def probe():
        raise AssertionError("the GPU was probed")

    monkeypatch.setattr(models, "gpu_visible", probe)


@pytest.fixture
def gpu(monkeypatch):
    """Pretend XGBoost sees a GPU."""
    monkeypatch.setattr(models, "gpu_visible", lambda: True)
    monkeypatch.setattr(models, "probe_gpu", lambda: models.GpuProbe(True, "Test GPU 80GB"))


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(models, "gpu_visible", lambda: False)
    monkeypatch.setattr(models, "probe_gpu", lambda: models.GpuProbe(False, "XGBoost finds no GPU"))


def small_table(labels: list) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = pd.Series([labels[int(v > 0)] for v in X["a"]])
    return X, y


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_family_of_a_task_builds_and_fits(task) -> None:
    X, y = small_table([0, 1])
    target = y if task == "classification" else X["a"] * 2.0
    for family in models.families_for(task):
        if family == "xgboost" and importlib.util.find_spec("xgboost") is None:
            continue  # a CPU project without the gpu extra; see test_xgboost_without_the_package_says_how_to_add_it
        estimator = models.build(family, task, {}, seed=0)
        assert len(estimator.fit(X, target).predict(X)) == len(X)


def test_a_linear_model_gradient_boosting_and_xgboost_are_offered() -> None:
    assert {"logistic_regression", "hist_gradient_boosting", "xgboost"} <= set(models.families_for("classification"))
    assert {"ridge", "hist_gradient_boosting", "xgboost"} <= set(models.families_for("regression"))


@pytest.fixture
def without_xgboost(monkeypatch):
    """As in a CPU project, where xgboost is not installed."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "xgboost" else find_spec(name, *a)
    )
    models.probe_gpu.cache_clear()
    yield
    models.probe_gpu.cache_clear()


def test_xgboost_without_the_package_says_how_to_add_it(without_xgboost) -> None:
    with pytest.raises(UserError, match=r"family 'xgboost' needs the xgboost package"):
        models.build("xgboost", "classification", {}, seed=0)
    probe = models.probe_gpu()
    assert not probe.visible and "xgboost is not installed" in probe.detail


def test_the_seed_and_the_device_reach_the_estimator() -> None:
    pytest.importorskip("xgboost")
    estimator = models.build("xgboost", "classification", {"max_depth": 3}, seed=7, device="cuda")
    params = estimator.get_params()
    assert (params["random_state"], params["device"], params["max_depth"]) == (7, "cuda", 3)
    assert models.build("hist_gradient_boosting", "regression", {}, seed=7).random_state == 7


def test_an_unknown_family_names_the_choices() -> None:
    with pytest.raises(UserError, match="unknown regression model family 'logistic_regression'; choose from ridge"):
        models.build("logistic_regression", "regression", {}, seed=0)


def test_an_unknown_parameter_names_the_family_parameters() -> None:
    with pytest.raises(UserError, match=r"ridge has no parameter 'alpah'; its parameters are .*alpha"):
        models.check_params("ridge", "regression", ["alpah"])


@pytest.mark.parametrize(("name", "owner"), [("random_state", "train.seed"), ("device", "train.device")])
def test_seed_and_device_are_not_per_candidate(name, owner) -> None:
    with pytest.raises(UserError, match=f"'{name}' is set by {owner}"):
        models.check_params("hist_gradient_boosting", "classification", [name])


def test_xgboost_learns_text_labels_and_answers_in_them() -> None:
    pytest.importorskip("xgboost")
    X, y = small_table(["no", "yes"])
    model = models.build("xgboost", "classification", {"n_estimators": 20}, seed=0, classes=("no", "yes"))
    model.fit(X, y)
    assert isinstance(model, models.EncodedLabels)
    assert list(model.classes_) == ["no", "yes"]
    assert set(model.predict(X)) <= {"no", "yes"}
    assert (model.predict(X) == y).mean() > 0.9
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)


def test_xgboost_is_not_wrapped_when_the_labels_are_already_codes() -> None:
    pytest.importorskip("xgboost")
    model = models.build("xgboost", "classification", {}, seed=0, classes=(0, 1, 2))
    assert type(model).__name__ == "XGBClassifier"


def test_cpu_never_probes_for_a_gpu(no_probe) -> None:
    assert models.resolve_device("cpu", ["xgboost"]) == "cpu"


def test_auto_without_a_gpu_family_does_not_probe(no_probe, caplog) -> None:
    with caplog.at_level(logging.INFO):
        assert models.resolve_device("auto", ["logistic_regression", "hist_gradient_boosting"]) == "cpu"
    assert "no candidate uses a GPU" in caplog.text


def test_auto_trains_on_the_gpu_when_xgboost_sees_one_and_says_so(gpu, caplog) -> None:
    with caplog.at_level(logging.INFO):
        assert models.resolve_device("auto", ["ridge", "xgboost"]) == "cuda"
    assert "training device: cuda, Test GPU 80GB" in caplog.text


def test_auto_falls_back_to_the_cpu_and_says_why(no_gpu, caplog) -> None:
    with caplog.at_level(logging.INFO):
        assert models.resolve_device("auto", ["xgboost"]) == "cpu"
    assert "training device: cpu (requested auto; no GPU: XGBoost finds no GPU)" in caplog.text


def test_cuda_without_a_gpu_is_a_clear_error(no_gpu) -> None:
    with pytest.raises(models.DeviceError, match=r"train\.device is 'cuda' but no GPU is visible to XGBoost"):
        models.resolve_device("cuda", ["xgboost"])


def test_the_probe_asks_xgboost_itself() -> None:
    """Where nvidia-smi is missing there is no NVIDIA GPU: the probe must say so, with a reason."""
    if shutil.which("nvidia-smi") is not None:
        pytest.skip("this machine may have a GPU")
    models.probe_gpu.cache_clear()
    probe = models.probe_gpu()
    assert probe.visible is False and probe.detail


def test_the_logged_model_predicts_on_the_cpu() -> None:
    pytest.importorskip("xgboost")
    from sklearn.pipeline import Pipeline

    wrapped = models.build("xgboost", "classification", {}, seed=0, device="cuda", classes=("a", "b"))
    model = models.on_cpu(Pipeline([("model", wrapped)]))
    assert model.named_steps["model"].estimator.get_params()["device"] == "cpu"


def test_the_config_family_table_matches_the_estimators() -> None:
    """config.py checks candidates against families.LEARNS (no scikit-learn import); models.py must agree with it."""
    built = {name: tuple(t for t in families.BOTH if getattr(f, t) is not None) for name, f in models.FAMILIES.items()}
    assert built == families.LEARNS


def test_small_data_fits_on_one_thread() -> None:
    """threads_for: one OpenMP and one BLAS thread below ONE_THREAD_ROWS (their threads cost more than they bring
    there), the libraries' own defaults from that size on, and the defaults restored afterwards."""
    from threadpoolctl import threadpool_info

    def threads() -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        for pool in threadpool_info():
            found.setdefault(pool["user_api"], set()).add(pool["num_threads"])
        return found

    default = threads()
    assert {"openmp", "blas"} <= set(default), "scikit-learn's OpenMP and numpy's BLAS are loaded (models imports them)"
    with models.threads_for(models.ONE_THREAD_ROWS - 1):
        assert threads() == {api: {1} for api in default}
    assert threads() == default
    with models.threads_for(models.ONE_THREAD_ROWS):
        assert threads() == default
