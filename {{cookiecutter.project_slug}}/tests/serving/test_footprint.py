"""A model profiled as serving runs it: loaded by serving's loaders, timed here, loaded again in a fresh process."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from {{ cookiecutter.package_name }}.core.reports import Profile
from {{ cookiecutter.package_name }}.serving import footprint
from {{ cookiecutter.package_name }}.serving.runtime import ONNX, SKLEARN
from {{ cookiecutter.package_name }}.tracking import runs
from {{ cookiecutter.package_name }}.training import onnx_export

from ..helpers import fitted

pytestmark = pytest.mark.slow  # a fresh Python process per profile


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory):
    """A fitted pipeline on the shipped table, as model.onnx and as an MLflow scikit-learn model folder."""
    model, holdout, schema = fitted("hist_gradient_boosting", "classification", max_depth=3)
    root = tmp_path_factory.mktemp("model")
    (root / "model.onnx").write_bytes(onnx_export.export(model, schema).SerializeToString())
    trusted = runs.skops_types(model)  # as train logs it (training/search_logging.py)
    mlflow.sklearn.save_model(model, root / "sklearn", serialization_format="skops", skops_trusted_types=trusted)
    return root, holdout, schema


@pytest.fixture(scope="module")
def profiles(model_files) -> dict[str, Profile]:
    root, holdout, schema = model_files
    return {
        ONNX: footprint.profile_files(ONNX, root / "model.onnx", schema, holdout),
        SKLEARN: footprint.profile_files(SKLEARN, root / "sklearn", schema, holdout),
    }


@pytest.mark.parametrize(("runtime", "name"), [(ONNX, "model.onnx"), (SKLEARN, "sklearn")])
def test_a_model_is_profiled_in_the_runtime_that_serves_it(model_files, profiles, runtime: str, name: str) -> None:
    root, _, schema = model_files
    found = profiles[runtime]
    assert found.runtime == runtime and found.features == len(schema.features)
    assert 0 < found.latency_p50_ms <= found.latency_p99_ms and found.rows_per_s > 0
    assert found.load_s > 0 and found.rss_mb > 0
    files = [root / name] if runtime == ONNX else [p for p in (root / name).rglob("*") if p.is_file()]
    assert found.size_mb == round(sum(p.stat().st_size for p in files) / 2**20, 4)
    # the tags it is recorded as read back the same
    assert Profile.from_tags(found.tags()) == found


def test_the_onnx_model_needs_less_memory_than_scikit_learn_in_a_fresh_process(profiles) -> None:
    # scikit-learn's imports alone (the fallback runtime's) outweigh onnxruntime and the model
    assert profiles[ONNX].rss_mb < profiles[SKLEARN].rss_mb


def test_a_model_serving_cannot_load_stops_the_profile(model_files, tmp_path: Path) -> None:
    _, holdout, schema = model_files
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(Exception, match=r"(?i)protobuf|onnx|load"):
        footprint.profile_files(ONNX, broken, schema, holdout)
