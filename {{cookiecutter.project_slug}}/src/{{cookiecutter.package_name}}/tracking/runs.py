"""MLflow's tracking: where runs go, what lineage they carry (code, data, validation), how a model is logged.

Importing this module does not import MLflow (seconds): each function imports it when it runs, so a command that
only needs the names here stays quick. MLflow's telemetry is off before that import.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..core.reports import Validation
from .registry import champion

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ..core.config import Tracking

log = logging.getLogger(__name__)

MONITORING_EXPERIMENT = "monitoring"  # monitor's runs (monitoring/monitor.py), in an experiment of their own
# MLflow 3's UI opens an experiment on what its kind says: GenAI traces, or (this) the runs of model training.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# The UI's own switch between its GenAI and model-training views, kept in the browser; links carry it.
UI_VIEW = "workflowType=machine_learning"
# What the logged model needs at inference time, pinned to the versions it was trained with.
RUNTIME_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "xgboost")


def configure(tracking: Tracking) -> MlflowClient:
    """Point MLflow at the tracking server or database and select the project's experiment.

    MLFLOW_EXPERIMENT_NAME (MLflow's own variable) overrides the experiment: pull-request reviews log their
    candidates into an experiment of their own, with an identity that may only read the project's (docs/ci.md).
    """
    import mlflow

    mlflow.set_tracking_uri(tracking.resolved_uri)
    mlflow.set_registry_uri(tracking.resolved_uri)
    experiment = mlflow.set_experiment(experiment_name(tracking))
    client = mlflow.MlflowClient()
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return client


def experiment_name(tracking: Tracking) -> str:
    """The experiment this job writes to: MLFLOW_EXPERIMENT_NAME when set (pull-request reviews), else the project's."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or tracking.experiment


def run_name(family: str, data_md5: str) -> str:
    """A parent run's name: the model family it chose and the version (content hash) of the data it learnt from."""
    return f"{family} · data {data_md5[:8]}"


def log_dataset(frame: Any, path: Path, context: str, target: str | None = None) -> str:
    """Log a DVC-tracked table as an input of the active run (MLflow's Datasets); returns its DVC md5."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from ..data.tables import file_md5

    md5 = file_md5(path)
    with warnings.catch_warnings():  # MLflow's notes on a local path's source kind and on integer columns: noise here
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(frame, source=str(path), targets=target, name=path.stem, digest=md5[:8])
        dataset.__dict__["schema"] = _column_schema(frame)  # set before MLflow's cached_property computes its own
    mlflow.log_input(dataset, context=context, tags={"dvc.md5": md5, "rows": str(len(frame))})
    return md5


def _column_schema(frame: Any) -> Any:
    """MLflow's schema of ``frame`` as its dataset inference gives it, in a fraction of the time: that inference
    tests every value for None or NaN in Python (20 s for 800,000 rows x 31 columns); here the types come from the
    first 1,000 rows (a column's dtype is the whole column's) and each column's `required` from pandas' isna."""
    from mlflow.types.schema import ColSpec, Schema
    from mlflow.types.utils import _infer_schema

    missing = frame.isna().any()
    head = _infer_schema(frame.head(1_000))
    columns = [spec for spec in head.inputs if isinstance(spec, ColSpec)]  # a frame's schema has no tensors
    return Schema([ColSpec(spec.type, spec.name, required=not bool(missing[spec.name])) for spec in columns])


def ui_links(client: MlflowClient, tracking: Tracking, base: str) -> dict[str, str]:
    """Deep links into the MLflow UI at ``base``: the experiment's runs, and the champion's registry page."""
    links = {}
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is not None:
        links["experiment"] = f"{base}/#/experiments/{experiment.experiment_id}/runs?{UI_VIEW}"
    found = champion(client, tracking.model_name)
    if found is not None:
        links["champion"] = f"{base}/#/models/{quote(tracking.model_name, safe='')}/versions/{found.version}?{UI_VIEW}"
    return links


def pip_requirements(packages: tuple[str, ...] = RUNTIME_PACKAGES) -> list[str]:
    """Pinned requirements for a logged model (inferring them costs seconds per model); installed ones only."""
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    _known_import_names()
    return pins


# The import name of each package the logged models pin.
IMPORT_NAMES = {
    "scikit-learn": "sklearn",
    "pandas": "pandas",
    "numpy": "numpy",
    "scipy": "scipy",
    "xgboost": "xgboost",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
}


def _known_import_names() -> None:
    """Spare log_model a scan of every installed distribution's file list.

    Logging a model, MLflow checks its pins against the installed versions (a warning when they differ). Before
    that check it maps every import name to its distribution, once per process, by reading the file list of every
    installed package (importlib_metadata.packages_distributions): 0.32-0.36 s of CPU for each of train's and
    register's log_model (measured unprofiled). The check itself reads versions with importlib.metadata and only
    falls back on the import name, so the map of the packages we pin is all it needs; with it in place MLflow skips
    the scan and still warns about a mismatch. (MLflow only needs the full map to infer requirements, which the pins make unnecessary.)
    """
    from mlflow.utils import requirements_utils

    if getattr(requirements_utils, "_MODULES_TO_PACKAGES", "absent") is None:  # not built yet in this process
        setattr(  # noqa: B010  (MLflow declares the map as None until it builds it)
            requirements_utils, "_MODULES_TO_PACKAGES", {module: [name] for name, module in IMPORT_NAMES.items()}
        )


def skops_types(model: object) -> list[str]:
    """The types MLflow's skops format must trust to load this model: the ones we just trained it with."""
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def git_commit() -> str:
    """HEAD's commit, with a -dirty suffix when the work tree has changes; 'unknown' outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def lineage_tags(data_files: dict[str, Path], validation_report: Path) -> dict[str, str]:
    """Tags that tie a run to its code, data and data-validation outcome."""
    from ..data.tables import file_md5

    tags = {"git.commit": git_commit()}
    for name, path in data_files.items():
        tags[f"data.{name}.md5"] = file_md5(path)
    report = Validation.read(validation_report)
    if report is not None:
        tags["validation.success"] = str(report.success)
        tags["validation.summary"] = report.summary
    return tags


def client(uri: str) -> MlflowClient:
    """A client for the tracking and registry store at ``uri``, selecting no experiment (that costs seconds)."""
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)
