"""The GPU runner answer: XGBoost is locked in and searched by default, and everything works on a machine without a GPU.

The render check is fast. The slow ones bake training_runner=self-hosted-gpu, run `make setup` (which installs
xgboost from the lock), the project's own search and model tests, and `make pipeline` on the default search
with `device: auto`, which must say that it trains on the CPU; `device: cuda` must fail with one clear line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .projects import run

GPU = {"training_runner": "self-hosted-gpu"}
RUNS = """
import json, mlflow
from my_mlops_project.core import config
from my_mlops_project.tracking import runs
cfg = config.load()
runs.configure(cfg.tracking)
candidate = json.load(open("models/candidate.json"))
parent = mlflow.get_run(candidate["run_id"])
children = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list",
                              filter_string=f"tags.mlflow.parentRunId = '{candidate['run_id']}'")
print(json.dumps({"tags": parent.data.tags, "metrics": parent.data.metrics,
                  "children": [[c.data.params["family"], c.data.tags["device"]] for c in children]}))
"""


def families(project: Path) -> list[str]:
    params = yaml.safe_load((project / "params.yaml").read_text())
    return [c["family"] for c in params["train"]["search"]["candidates"]]


def test_only_the_gpu_answer_depends_on_xgboost_and_searches_it(rendered: Callable[..., Path]) -> None:
    gpu = rendered(**GPU)
    for runner in ("self-hosted-cpu", "github-hosted"):
        light = rendered(training_runner=runner)
        assert "xgboost" not in (light / "requirements.lock").read_text()
        assert "xgboost" not in families(light)
    assert "\nxgboost==" in (gpu / "requirements.lock").read_text()
    assert families(gpu)[-1] == "xgboost"
    assert yaml.safe_load((gpu / "params.yaml").read_text())["train"]["device"] == "auto"


@pytest.mark.slow
def test_the_project_search_model_and_onnx_tests_pass_with_xgboost(gpu_project: Path) -> None:
    """The train stage with xgboost is covered by the pipeline test below, on the real default search; the ONNX
    tests export XGBoost pipelines and serve an XGBoost champion on onnxruntime (slow ones included)."""
    run([".venv/bin/python", "-c", "import xgboost"], gpu_project)
    tests = ["tests/training/test_search.py", "tests/training/test_models.py", "tests/training/test_onnx_export.py"]
    done = run([".venv/bin/pytest", "-q", "-rs", "-p", "no:cacheprovider", *tests], gpu_project, timeout=900)
    assert "could not import 'xgboost'" not in done.stdout, "the xgboost tests must run, not skip, in a GPU project"


@pytest.mark.slow
def test_the_pipeline_trains_xgboost_on_the_cpu_when_no_gpu_is_visible(gpu_project: Path) -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine may have a GPU: device auto would rightly use it")
    done = run(["make", "pipeline"], gpu_project, timeout=900)
    assert "training device: cpu (requested auto; no GPU:" in done.stdout + done.stderr

    state = json.loads(run([".venv/bin/python", "-c", RUNS], gpu_project).stdout.strip().splitlines()[-1])
    assert state["tags"]["device"] == "cpu" and "version.xgboost" in state["tags"]
    assert {"train_seconds", "search_seconds", "search_logging_share"} <= set(state["metrics"])
    assert len(state["children"]) == 11
    assert ["xgboost", "cpu"] in state["children"]
    assert json.loads((gpu_project / "reports" / "registration.json").read_text())["promoted"] is True


@pytest.mark.slow
def test_device_cuda_without_a_gpu_is_one_clear_line(gpu_project: Path) -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine may have a GPU")
    params = gpu_project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("device: auto", "device: cuda", 1))
    try:
        done = run([".venv/bin/python", "-m", "my_mlops_project", "train"], gpu_project, check=False)
    finally:
        params.write_text(text)
    assert done.returncode == 1
    assert "error: train.device is 'cuda' but no GPU is visible to XGBoost" in done.stderr
    assert "Traceback" not in done.stderr
