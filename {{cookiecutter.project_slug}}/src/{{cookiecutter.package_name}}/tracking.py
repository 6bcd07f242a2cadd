"""MLflow: where runs go, what lineage they carry, and the registry's aliases.

Importing this module does not import MLflow (seconds): each function imports it when it runs, so a command that
only needs the names here (the aliases) stays quick. MLflow's telemetry is off before that import.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from . import features
    from .config import Tracking

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
# MLflow 3's UI opens an experiment on what its kind says: GenAI traces, or (this) the runs of model training.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# The UI's own switch between its GenAI and model-training views, kept in the browser; links carry it.
UI_VIEW = "workflowType=machine_learning"
# What the logged model needs at inference time, pinned to the versions it was trained with.
RUNTIME_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "xgboost")
SCHEMA_ARTIFACT = "features.json"  # the feature schema register logs in each registered version's run


def configure(tracking: Tracking) -> MlflowClient:
    """Point MLflow at the tracking server or database and select the project's experiment.

    MLFLOW_EXPERIMENT_NAME (MLflow's own variable) overrides the experiment: pull-request reviews log their
    candidates into an experiment of their own, with an identity that may only read the project's (docs/ci.md).
    """
    import mlflow

    mlflow.set_tracking_uri(tracking.resolved_uri)
    mlflow.set_registry_uri(tracking.resolved_uri)
    experiment = mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or tracking.experiment)
    client = mlflow.MlflowClient()
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return client


def run_name(family: str, data_md5: str) -> str:
    """A parent run's name: the model family it chose and the version (content hash) of the data it learnt from."""
    return f"{family} · data {data_md5[:8]}"


def log_dataset(frame: Any, path: Path, context: str, target: str | None = None) -> str:
    """Log a DVC-tracked table as an input of the active run (MLflow's Datasets); returns its DVC md5."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from .tables import file_md5

    md5 = file_md5(path)
    with warnings.catch_warnings():  # MLflow's notes on a local path's source kind and on integer columns: noise here
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(frame, source=str(path), targets=target, name=path.stem, digest=md5[:8])
    mlflow.log_input(dataset, context=context, tags={"dvc.md5": md5, "rows": str(len(frame))})
    return md5


def describe_version(client: MlflowClient, model_name: str, version: str, decision: str, reasons: list[str]) -> str:
    """Write a registry version's description: where it came from (run, commit, data) and the gate's decision."""
    found = client.get_model_version(model_name, version)
    tags = client.get_run(found.run_id).data.tags if found.run_id else {}
    data = [
        f"`{k.removeprefix('data.').removesuffix('.md5')}` {v}" for k, v in sorted(tags.items()) if k.endswith(".md5")
    ]
    lines = [
        f"**{decision}** by the quality gate"
        + (f" (trained as {tags['mlflow.runName']!r})" if "mlflow.runName" in tags else ""),
        "",
        *(f"- gate: {reason}" for reason in reasons),
        f"- commit: `{tags.get('git.commit', 'unknown')}`",
        f"- data (DVC md5): {', '.join(data) or 'unknown'}",
        f"- validation: {tags.get('validation.summary', 'unknown')}",
        f"- run: `{found.run_id}`",
    ]
    text = "\n".join(lines)
    client.update_model_version(model_name, version, description=text)
    return text


def ui_links(client: MlflowClient, tracking: Tracking, base: str) -> dict[str, str]:
    """Deep links into the MLflow UI at ``base``: the experiment's runs, and the champion's registry page."""
    links = {}
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is not None:
        links["experiment"] = f"{base}/#/experiments/{experiment.experiment_id}/runs?{UI_VIEW}"
    champion = version_by_alias(client, tracking.model_name, CHAMPION)
    if champion is not None:
        links["champion"] = (
            f"{base}/#/models/{quote(tracking.model_name, safe='')}/versions/{champion.version}?{UI_VIEW}"
        )
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


def version_schema(version: ModelVersion, model_uri: str, model: Any = None) -> features.Schema:
    """A registered version's feature schema: the `features.json` artifact register logged in its run
    (features.Schema.to_dict), or, for a version registered before that, rebuilt from the model's signature."""
    import mlflow

    from . import features

    if version.run_id:
        try:
            return features.Schema.from_dict(mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{SCHEMA_ARTIFACT}"))
        except Exception as error:  # not there (an older version) or unreadable
            log.debug("no %s in run %s (%s): schema from the signature", SCHEMA_ARTIFACT, version.run_id, error)
    signature = mlflow.models.get_model_info(model_uri).signature
    return features.from_signature(signature, model if model is not None else mlflow.sklearn.load_model(model_uri))


def lineage_tags(data_files: dict[str, Path], validation_report: Path) -> dict[str, str]:
    """Tags that tie a run to its code, data and data-validation outcome."""
    from .tables import file_md5

    tags = {"git.commit": git_commit()}
    for name, path in data_files.items():
        tags[f"data.{name}.md5"] = file_md5(path)
    if validation_report.exists():
        report = json.loads(validation_report.read_text())
        stats = report.get("statistics", {})
        tags["validation.success"] = str(report.get("success"))
        passed, evaluated = stats.get("successful_expectations", "?"), stats.get("evaluated_expectations", "?")
        tags["validation.summary"] = f"{passed}/{evaluated} expectations passed"
    return tags


def client(uri: str) -> MlflowClient:
    """A client for the tracking and registry store at ``uri``, selecting no experiment (that costs seconds)."""
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def version_by_alias(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def version_for_model(client: MlflowClient, model_name: str, model_uri: str) -> ModelVersion | None:
    """The registered version made from this logged model, if it was registered already (idempotent reruns)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return None
    return next((v for v in versions if v.source == model_uri), None)


# Serialisable promotion: two pipelines that finish at once (two runners, one registry) must end with the better
# of their versions as champion, whichever moves the alias last. MLflow's alias API has no compare-and-set, so
# each promoted version records the champion it was compared with (its baseline), and settle_champion() moves the
# alias to the best promoted version among those that share that baseline, then reads back and repeats until what
# it reads is what it would write. The last process to move the alias re-reads after its move and sees every
# rival's tags (each writes them before its first read), so the final alias is the best of the race in any
# interleaving. A version promoted later against the new champion has another baseline: it is not compared
# with older rivals.
PROMOTION_BASELINE = "promotion.baseline"
PROMOTION_SETTLED = "promotion.settled"


def _metric_of(version: ModelVersion, metric: str) -> float | None:
    try:
        return float(version.tags[f"holdout.{metric}"])
    except (KeyError, TypeError, ValueError):
        return None


def settle_champion(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    baseline: str,
    metric: str,
    greater_is_better: bool,
    attempts: int = 20,
) -> str:
    """Called after ``version`` passed the gate against ``baseline`` (the champion's version at evaluation time,
    or "none") and carries its ``holdout.<metric>`` tag: the champion becomes the best version promoted against
    the same baseline (ties: the lowest version number). Returns the champion's version."""
    from mlflow.exceptions import MlflowException

    version, baseline = str(version), str(baseline)
    client.set_model_version_tag(model_name, version, PROMOTION_BASELINE, baseline)
    best = version
    for _ in range(attempts):
        rivals = [
            (value, v)
            for v in client.search_model_versions(f"name = '{model_name}'")
            if v.tags.get(PROMOTION_BASELINE) == baseline
            and v.tags.get("gate.decision") == "promoted"
            and (value := _metric_of(v, metric)) is not None
        ]
        if str(version) not in {str(v.version) for _, v in rivals}:  # our own tags not visible yet: read again
            continue
        sign = 1.0 if greater_is_better else -1.0
        best = str(min(rivals, key=lambda pair: (-sign * pair[0], int(pair[1].version)))[1].version)
        current = version_by_alias(client, model_name, CHAMPION)
        if current is not None and str(current.version) == best:
            break
        try:
            client.set_registered_model_alias(model_name, CHAMPION, best)
        except MlflowException:  # a rival's alias write at the same instant (the store's unique key): read again
            continue
    else:
        raise MlflowException(f"{model_name}: the champion did not settle after {attempts} reads of the registry")
    client.set_model_version_tag(model_name, version, PROMOTION_SETTLED, f"champion v{best}")
    return best
