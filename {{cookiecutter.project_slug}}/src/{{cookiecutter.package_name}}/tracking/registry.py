"""MLflow's model registry: the champion (the one lookup every part uses), versions, their schema and description,
and the serialisable promotion of `champion`.

Importing this module does not import MLflow: each function imports it when it runs. The registry's aliases
(`champion`, `challenger`) are named in aliases.py, which also reads them without MLflow.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from ..core.errors import UserError
from ..core.schema import Schema, from_signature
from .aliases import CHAMPION

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
SCHEMA_ARTIFACT = "features.json"  # the feature schema register logs in each registered version's run
SCHEMA_TAG = "features"  # ... and sets on the version (the one serving and monitoring read)


def champion(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The registry's `champion` version of ``model_name``; None when there is none (yet)."""
    return version_by_alias(client, model_name, CHAMPION)


def require_champion(client: MlflowClient, model_name: str) -> ModelVersion:
    """The registry's `champion`, or a UserError saying how to get one."""
    found = champion(client, model_name)
    if found is None:
        raise UserError(f"no `{CHAMPION}` in the registry for {model_name!r}: run the pipeline first (make pipeline)")
    return found


def version_uri(version: ModelVersion) -> str:
    """The registry URI of a version (``models:/<name>/<version>``)."""
    return f"models:/{version.name}/{version.version}"


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


def record_schema(client: MlflowClient, version: ModelVersion, schema: Schema) -> None:
    """register's step: the feature schema onto the version as its `features` tag, which only a user that may edit
    the registered model can set (the run's `features.json` artifact is for people to read)."""
    client.set_model_version_tag(version.name, version.version, SCHEMA_TAG, json.dumps(schema.to_dict()))


def version_schema(version: ModelVersion, model_uri: str, model: Any = None) -> Schema:
    """A registered version's feature schema: its `features` tag (record_schema); for a version registered before
    that tag, the `features.json` artifact register logged in its run, or else the model's signature."""
    import mlflow

    if SCHEMA_TAG in (version.tags or {}):
        return Schema.from_dict(json.loads(version.tags[SCHEMA_TAG]))
    if version.run_id:
        try:
            return Schema.from_dict(mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{SCHEMA_ARTIFACT}"))
        except Exception as error:  # not there (an older version) or unreadable
            log.debug("no %s in run %s (%s): schema from the signature", SCHEMA_ARTIFACT, version.run_id, error)
    signature = mlflow.models.get_model_info(model_uri).signature
    if model is None:
        from .model_files import load_version

        model = load_version(version)
    return from_signature(signature, model)


def record_manifests(client: MlflowClient, name: str, number: str) -> dict[str, str]:
    """``record-manifest --version N``, the writer's one-off for a version registered before manifests were recorded:
    its folder is opened once the way every load opens it (skops with the trusted types: a pickle or a foreign
    type is refused), then the manifests of its folders and its schema go onto the version. It records the files
    as they are now: check them against a copy you trust first (docs/tracking.md)."""
    from . import model_files

    version = client.get_model_version(name, number)
    tags = version.tags or {}
    if model_files.MODEL_TAG in tags:
        raise UserError(f"{name} v{number} has a manifest already (tag {model_files.MODEL_TAG}): nothing to record")
    source = version.source or ""
    if not model_files.MODEL_ID.match(source):
        raise UserError(f"{name} v{number} was not registered from a logged model ({source!r})")
    with model_files.scratch() as folder:
        model = model_files.load_sklearn(model_files.download(source, folder / "model"))
    onnx = tags.get("onnx.model_uri") if tags.get("onnx.parity") == "held" else None
    if onnx is not None and not model_files.MODEL_ID.match(onnx):
        raise UserError(f"{name} v{number}: its tag onnx.model_uri is not a logged model's URI: {onnx[:200]!r}")
    recorded = model_files.record(client, version, source, onnx)
    record_schema(client, version, version_schema(version, version_uri(version), model))
    return recorded


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
        current = champion(client, model_name)
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
