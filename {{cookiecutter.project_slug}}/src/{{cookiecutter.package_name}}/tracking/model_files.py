"""A model's files, checked before anything opens them, and opened without unpickling.

At registration the writer records a sha256 manifest of every file of the version's model folders on the version
(tags ``model.sha256``, the scikit-learn model, and ``onnx.sha256``, its ONNX export: JSON ``{path: sha256}``).
Only a user that may edit the registered model can set a version tag (on the team server: the writer alone), while
the files themselves live in the experiment's artifact store; so a file changed after registration, by whoever
could write there, no longer matches, and every load refuses it (``ModelFilesChanged``, naming the files): evaluate
(the champion), monitor, batch, the service and its BentoML import, bento build.

A scikit-learn model is opened with skops, never with pickle: only MLflow's skops format is accepted (a
pickle or cloudpickle flavour is refused, ``UntrustedModel``), and the types skops may rebuild are the list below,
in code, not the ``skops_trusted_types`` of the folder's ``MLmodel`` file, which whoever wrote the folder wrote.
train refuses to log a model with a type outside the list, so a new model family is added here on purpose.

Nothing here imports MLflow until a function downloads: the batch job and the service load from the BentoML
store's folders with this module alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..core.errors import UserError

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when PyYAML has it: 1 ms instead of 19
SKOPS = "skops"
MODEL_TAG = "model.sha256"  # the scikit-learn model's folder (models:/<name>/<version>)
ONNX_TAG = "onnx.sha256"  # the ONNX export's folder (the version's onnx.model_uri)
# MLflow writes this file itself into a registered model's folder, on the server and again on every download of
# models:/<name>/<version> (the version's name and number); no loader reads it.
MLFLOW_WRITES = frozenset({"registered_model_meta"})
# The types skops may rebuild beyond its own safe defaults: those of the model families train offers
# (training/models.py), as skops.io.get_untrusted_types lists them for each fitted pipeline (the project's tests
# check every family against this list). A function or a type outside it is refused.
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",  # random_forest
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # hist_gradient_boosting
        "sklearn.utils._bunch.Bunch",  # an ensemble's named_estimators_ (training/ensemble.py): a dict of its members
        "xgboost.core.Booster",  # xgboost: the booster, rebuilt from its own JSON (no pickle)
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        f"{__package__.split('.')[0]}.training.models.EncodedLabels",  # xgboost on labels other than 0..k-1
        # dates and times as calendar features (training/calendar.py: its fitted state is str, float and bool lists)
        f"{__package__.split('.')[0]}.training.calendar.CalendarFeatures",
    }
)
MODEL_ID = re.compile(r"^models:/m-[0-9a-f]{32}$")  # a logged model's URI, as MLflow 3 writes it


class ModelFilesChanged(UserError):
    """A model's files differ from the manifest recorded at registration: it is not loaded."""


class UntrustedModel(UserError):
    """A model that would need pickle, or a type outside TRUSTED_TYPES, to load: it is not loaded."""


def manifest(folder: Path) -> dict[str, str]:
    """The sha256 of every file under ``folder``, by its path relative to it (``/``-separated), sorted."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        name = path.relative_to(folder).as_posix()
        if name in MLFLOW_WRITES:
            continue
        if path.is_symlink():  # a link could point anywhere on the loading machine: never a model file
            found[name] = "symlink"
            continue
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        found[name] = digest.hexdigest()
    return found


def encode(files: Mapping[str, str]) -> str:
    """A manifest as the JSON text a version tag holds."""
    return json.dumps(dict(sorted(files.items())), separators=(",", ":"))


def decode(text: str | None, what: str, tag: str) -> dict[str, str]:
    """The manifest a version tag holds; an UntrustedModel error when there is none (a version registered before
    manifests were recorded) or it is not one."""
    if not text:
        raise UntrustedModel(
            f"{what} has no sha256 manifest (version tag {tag}): it was registered before manifests were recorded, "
            "so its files cannot be checked. Register a new version (make pipeline on main), or have the writer "
            f"check the files and record one (python -m {__package__.split('.')[0]} record-manifest --version N)"
        )
    try:
        files = json.loads(text)
    except ValueError:
        files = None
    digests = files.values() if isinstance(files, dict) else ()
    if not digests or not all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in digests):
        raise UntrustedModel(f"{what}: the version tag {tag} is not a sha256 manifest: {text[:200]!r}")
    return files


def check(folder: Path, expected: Mapping[str, str], what: str) -> None:
    """Refuse ``folder`` unless its files are exactly those of ``expected``, with the same sha256."""
    found = manifest(folder)
    changed = sorted(name for name in expected.keys() & found.keys() if expected[name] != found[name])
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    if changed or missing or extra:
        problems = [f"{name} changed" for name in changed] + [f"{name} missing" for name in missing]
        problems += [f"{name} added" for name in extra]
        raise ModelFilesChanged(
            f"{what}: its files do not match the sha256 manifest recorded at registration ({', '.join(problems)}); "
            "refusing to load it. Someone wrote into the model's artifact folder after it was registered: find "
            "out who (the tracking server's access log), then register a new version"
        )


def load_sklearn(folder: Path) -> Any:
    """The fitted scikit-learn model of an MLflow model folder, rebuilt by skops with TRUSTED_TYPES only."""
    try:
        flavor = (yaml.load((folder / "MLmodel").read_text(), Loader=SAFE_LOADER) or {})["flavors"]["sklearn"]
        file, form = str(flavor["pickled_model"]), flavor.get("serialization_format")
    except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise UntrustedModel(f"{folder} is not an MLflow scikit-learn model folder ({error})") from None
    if form != SKOPS:
        raise UntrustedModel(
            f"{folder}: the model is stored as {form or 'pickle'}, and loading it would run whatever code the "
            "file holds: only the skops format (what train logs) is loaded"
        )
    if Path(file).name != file or not (folder / file).is_file():
        raise UntrustedModel(f"{folder}: MLmodel names {file!r}, which is not a file of the folder")
    import skops.io

    path = folder / file
    try:
        unknown = sorted(set(skops.io.get_untrusted_types(file=path)) - TRUSTED_TYPES)
    except Exception as error:  # not a skops file at all
        raise UntrustedModel(f"{path} is not a readable skops file: {error}") from None
    if unknown:
        raise UntrustedModel(
            f"{path} needs type(s) outside the trusted list (tracking/model_files.py TRUSTED_TYPES): "
            f"{', '.join(unknown)}; refusing to load it"
        )
    return skops.io.load(path, trusted=sorted(TRUSTED_TYPES))


def refuse_untrusted_types(types: list[str]) -> list[str]:
    """train's check before it logs a model: every type skops must trust to load it is in TRUSTED_TYPES."""
    unknown = sorted(set(types) - TRUSTED_TYPES)
    if unknown:
        raise UntrustedModel(
            f"the trained model needs type(s) that loading does not trust: {', '.join(unknown)}. Review them and "
            "add them to TRUSTED_TYPES in tracking/model_files.py"
        )
    return types


def download(uri: str, destination: Path) -> Path:
    """An MLflow model's folder (``models:/...``) copied to ``destination`` (which must not exist yet)."""
    import shutil

    import mlflow

    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=destination.parent)
    try:  # a models:/ download may hand back the scratch folder itself: move what it returns, then tidy up
        shutil.move(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch), destination)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return destination


def version_label(version: ModelVersion) -> str:
    return f"{version.name} v{version.version}"


def fetch_version(version: ModelVersion, destination: Path) -> Path:
    """A registered version's scikit-learn model folder, downloaded to ``destination`` and checked."""
    what = version_label(version)
    expected = decode((version.tags or {}).get(MODEL_TAG), what, MODEL_TAG)
    download(f"models:/{version.name}/{version.version}", destination)
    check(destination, expected, what)
    return destination


def fetch_onnx(version: ModelVersion, destination: Path) -> Path:
    """A registered version's ONNX export folder (its ``onnx.model_uri`` tag), downloaded and checked."""
    tags = version.tags or {}
    what = f"{version_label(version)} (ONNX export)"
    uri = tags.get("onnx.model_uri", "")
    if not MODEL_ID.match(uri):  # a tag is data: only a logged model's own URI is downloaded
        raise UntrustedModel(f"{what}: the tag onnx.model_uri is not a logged model's URI: {uri[:200]!r}")
    expected = decode(tags.get(ONNX_TAG), what, ONNX_TAG)
    download(uri, destination)
    check(destination, expected, what)
    return destination


def version_manifests(version: ModelVersion, model_folder: str, onnx_folder: str | None) -> dict[str, dict[str, str]]:
    """The manifests a version's tags hold, by the folder each is copied into (a BentoML model's metadata)."""
    what = version_label(version)
    tags = version.tags or {}
    found = {model_folder: decode(tags.get(MODEL_TAG), what, MODEL_TAG)}
    if onnx_folder is not None:
        found[onnx_folder] = decode(tags.get(ONNX_TAG), f"{what} (ONNX export)", ONNX_TAG)
    return found


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="model-") as folder:
        yield Path(folder)


def load_version(version: ModelVersion) -> Any:
    """A registered version's scikit-learn model: downloaded, checked against its manifest, rebuilt by skops."""
    with scratch() as folder:
        return load_sklearn(fetch_version(version, folder / "model"))


def load_logged(model_uri: str) -> Any:
    """A logged model that is not registered yet (train's candidate, in the experiment this job writes to):
    rebuilt by skops with TRUSTED_TYPES only. Its manifest is recorded when register registers it."""
    with scratch() as folder:
        return load_sklearn(download(model_uri, folder / "model"))


def record(client: Any, version: ModelVersion, model_uri: str, onnx_uri: str | None) -> dict[str, str]:
    """register's step: the manifests of the version's model folders (its logged model, ``model_uri``, and the
    ONNX export) onto the version as tags. Returns the tags."""
    tags = {}
    with scratch() as folder:
        tags[MODEL_TAG] = encode(manifest(download(model_uri, folder / "model")))
        if onnx_uri:
            tags[ONNX_TAG] = encode(manifest(download(onnx_uri, folder / "onnx")))
    for key, value in tags.items():
        client.set_model_version_tag(version.name, version.version, key, value)
    return tags
