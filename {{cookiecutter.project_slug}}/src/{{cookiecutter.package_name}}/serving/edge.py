"""``make edge``: the champion as a bundle that runs without the project, on any machine with Python and onnxruntime.

``dist/edge/<model>-v<version>/`` and the same folder as ``<model>-v<version>.tar.gz``:

- ``model.onnx``: the ONNX export the service runs (its parity with scikit-learn held at registration). A version
  without one is refused with the reason: it is served by scikit-learn, which an edge device should not need.
- ``schema.json``: the columns in the model's input order, their types, the text values the model knows, the task,
  the classes and the decision threshold (``decision``: none unless the model was tuned with one).
- ``predict.py``: serving/edge_predict.py as it is: ``python predict.py < rows.csv > predictions.jsonl``.
- ``requirements.txt``: onnxruntime, numpy and what they need, the project's locked versions with their hashes for
  every platform the lock covers (``pip install --require-hashes -r requirements.txt``; nothing is resolved again).
- ``README.md``: how to install and run it, its input and output, where it came from.

The archive is reproducible: its entries are sorted, owned by nobody and dated by the version's registration.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

from ..core.config import Config
from ..core.errors import UserError
from ..core.schema import Schema
from ..tracking.model_files import load_sklearn
from ..training.models import members
from . import edge_predict
from .champion import import_champion, store_name
from .model import MLFLOW_FOLDER, ONNX_FILE, check_files, onnx_path, stored_schema

log = logging.getLogger(__name__)

OUT = Path("dist/edge")
LOCK = Path("requirements.lock")
RUNTIME_PACKAGES = ("onnxruntime", "numpy")  # what predict.py imports


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(lock: Path) -> dict[str, list[str]]:
    """Each package's entries in a hashed lock (``name==version ; marker`` and its hash lines), by normalised name;
    a universal lock may have several per package (one per Python range)."""
    if not lock.exists():
        raise UserError(f"{lock} not found: the edge bundle's requirements are taken from the project's lock")
    blocks: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    for line in lock.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and current is not None:
            current.append(line)
            continue
        found = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        current = [line] if found else None
        if found and current is not None:
            blocks.setdefault(_normal(found.group(1)), []).append(current)
    return {name: ["\n".join(lines) for lines in found_blocks] for name, found_blocks in blocks.items()}


def runtime_dependencies(roots: tuple[str, ...] = RUNTIME_PACKAGES) -> list[str]:
    """``roots`` and everything they require (extras left out), by the installed packages' metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: list[str] = []
    todo = list(roots)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.append(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # needed on another platform only: its lock entry still goes in
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or "extra" not in str(requirement.marker):
                todo.append(requirement.name)
    return sorted(seen)


def requirements(lock: Path = LOCK) -> str:
    """requirements.txt: the runtime's packages as the project's lock pins them, hashes included."""
    entries = lock_entries(lock)
    names = runtime_dependencies()
    absent = [name for name in names if name not in entries]
    if absent:
        raise UserError(f"{lock} does not pin {', '.join(absent)}: run make lock, then make edge again")
    header = f"# onnxruntime, numpy and what they need, as {lock} pins them (pip install --require-hashes -r ...)\n"
    return header + "".join(entry + "\n" for name in names for entry in entries[name])


def python_version(pyproject: Path = Path("pyproject.toml")) -> str:
    """The Python the project (and so its lock) is for: pyproject.toml's requires-python, e.g. ``>=3.11``."""
    import tomllib

    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["requires-python"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ">={}.{}".format(*sys.version_info[:2])


def known_values(model: Any, schema: Schema) -> dict[str, list[str]]:
    """The text values each categorical column's fitted one-hot encoder knows (columns whose encoder cannot be told
    apart are left out: predict.py then accepts any value for them, as the model does)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    found: dict[str, list[str]] = {}
    stack = members(model)  # the pipeline (or an ensemble's) inside a tuned threshold's FixedThresholdClassifier
    while stack:
        step = stack.pop()
        stack.extend(getattr(step, "named_steps", {}).values())
        if not isinstance(step, ColumnTransformer):
            continue
        for _, transformer, columns in step.transformers_:
            encoders = [s for s in getattr(transformer, "named_steps", {}).values() if isinstance(s, OneHotEncoder)]
            if isinstance(transformer, OneHotEncoder):
                encoders = [transformer]
            if len(encoders) == 1 and isinstance(columns, list) and len(columns) == len(encoders[0].categories_):
                found |= {str(n): [str(v) for v in c] for n, c in zip(columns, encoders[0].categories_, strict=True)}
    categorical = set(schema.of_kind("categorical"))
    return {name: values for name, values in found.items() if name in categorical}


def edge_schema(schema: Schema, known: dict[str, list[str]], model: str, version: str) -> dict[str, Any]:
    """schema.json: what predict.py checks the input against and answers with."""
    data = schema.to_dict()
    columns = []
    for feature in schema.features:
        column: dict[str, Any] = {"name": feature.name, "type": "number" if feature.kind == "numeric" else "text"}
        if feature.name in known:
            column["values"] = known[feature.name]
        columns.append(column)
    return {
        "model": {"name": model, "version": version},
        "task": schema.task,
        "columns": columns,
        "classes": data["classes"],
        "decision": {
            "threshold": schema.threshold.value if schema.threshold is not None else None,
            "positive_class": data.get("positive_class"),
        },
    }


def readme(schema: dict[str, Any], detail: str, python: str) -> str:
    """README.md: how to install and run the bundle, its input and output, where it came from."""
    name, version = schema["model"]["name"], schema["model"]["version"]
    rows = "\n".join(
        f"| `{c['name']}` | {c['type']} | {len(c['values']) if 'values' in c else 'any'} |" for c in schema["columns"]
    )
    answer = (
        "`prediction` and `probabilities` (class -> probability)"
        if schema["task"] == "classification"
        else "`prediction`"
    )
    threshold = schema["decision"]["threshold"]
    decision = (
        f"the positive class `{schema['decision']['positive_class']}` when its probability is at least {threshold}"
        if threshold is not None
        else "the most probable class"
    )
    return f"""# {name} v{version}: edge bundle

The registry's version {version} of `{name}` as ONNX, with a predictor that needs Python {python},
onnxruntime and numpy only: no MLflow, BentoML, pandas or scikit-learn.

```bash
python -m venv .venv
.venv/bin/pip install --require-hashes -r requirements.txt
.venv/bin/python predict.py < rows.csv > predictions.jsonl
```

| file | what |
| --- | --- |
| `model.onnx` | the model, preprocessing included (ONNX opset 17, `ai.onnx.ml` 3) |
| `schema.json` | its columns in input order, their types, the text values it knows, task, classes, decision |
| `predict.py` | CSV with a header on stdin, one JSON object per row on stdout (`--strict`: refuse unknown text) |
| `requirements.txt` | onnxruntime, numpy and their dependencies, pinned with hashes for every platform the project's lock covers (64-bit ARM Linux included where onnxruntime publishes wheels) |

## Input

A CSV file with a header line and these columns (any order; others are ignored). An empty cell, `NA`, `null` or
`NaN` is a missing value, imputed as in training. Every row is checked before any is predicted: a value that does not
fit stops the run with the row and the column named on stderr (exit status 1).

| column | type | known text values |
| --- | --- | --- |
{rows}

## Output

One JSON object per input row, in input order: {answer}. The label is {decision}.

## Where it came from

`make edge` in the project that trained it, from the registry's champion. Parity with the scikit-learn pipeline
was checked at registration: {detail or "held"}.
"""


def _add(archive: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    archive.addfile(info, io.BytesIO(data))


def archive(folder: Path, mtime: int) -> Path:
    """``folder`` as a reproducible .tar.gz beside it."""
    target = folder.with_name(folder.name + ".tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.iterdir()):
            _add(tar, f"{folder.name}/{path.name}", path.read_bytes(), mtime)
    target.write_bytes(gzip.compress(buffer.getvalue(), mtime=mtime))
    return target


def build(cfg: Config, out: Path = OUT, lock: Path = LOCK) -> Path:
    """Write the champion's bundle under ``out`` (the module docstring), its requirements from ``lock``; its folder."""
    stored = import_champion(cfg)
    check_files(stored)  # the files bundled are the ones registered (their sha256 manifest)
    meta = stored.info.metadata
    name, version = meta["registered_model"], meta["registered_version"]
    model = onnx_path(stored)
    if model is None:
        onnx = meta.get("onnx", {})
        why = onnx.get("reason") or onnx.get("detail") or f"onnx.parity is {onnx.get('parity', 'none')}"
        raise UserError(
            f"{name} v{version} has no ONNX export whose parity held ({why}): an edge bundle runs model.onnx alone, "
            "and this version is served by scikit-learn"
        )
    pinned = requirements(lock)
    schema = stored_schema(stored)
    known: dict[str, list[str]] = {}
    if schema.of_kind("categorical"):
        known = known_values(load_sklearn(Path(stored.path_of(MLFLOW_FOLDER))), schema)
    folder = out / f"{store_name(name)}-v{version}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    described = edge_schema(schema, known, name, version)
    shutil.copyfile(model, folder / ONNX_FILE)
    (folder / "schema.json").write_text(json.dumps(described, indent=2) + "\n")
    shutil.copyfile(edge_predict.__file__, folder / "predict.py")
    (folder / "requirements.txt").write_text(pinned)
    (folder / "README.md").write_text(readme(described, meta.get("onnx", {}).get("detail", ""), python_version()))
    bundle = archive(folder, int(stored.info.creation_time.timestamp()))
    log.info("edge bundle for %s v%s: %s/ and %s", name, version, folder, bundle.name)
    return folder
