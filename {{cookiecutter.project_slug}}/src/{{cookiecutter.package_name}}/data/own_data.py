"""Bring your own data in one command (``make data FILE=... TARGET=... [TASK=...] [DROP="a b"]``).

Copies the file under data/external/, versions it with DVC, points params.yaml at it (comments kept), runs the
ingest stage, prints the column roles (data/roles.py) and writes them to params.yaml ``prepare.roles`` (each with
its reason as a comment: the one place to override one), and drafts the Great Expectations suite **only when the
dataset has none yet**: a later version of the same file is checked against the suite you reviewed, so bad data
stops the pipeline instead of being drafted into the suite. ``make suite`` redrafts on purpose.

Changing your mind is the same command: another TARGET, TASK or DROP on the same file redrafts the suite for the
columns validate now checks, keeping the reviewed checks of the columns that stay (data/suite.redraft), and keeps
the roles params.yaml gives the columns that stay.

Switching task (TASK=regression on a classification project, or back) is this one command: the keys that follow
the task (prepare.stratify, prepare.positive_class, train.metric, train.threshold, register.metric, register.floor)
are taken out of params.yaml so they fall back to the new task's defaults, and a linear candidate is swapped to the
task's own (logistic_regression <-> ridge).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.config import PARAMS_FILE, Config, load
from ..core.errors import UserError
from ..core.metrics import TASKS
from . import roles, sources, tables
from . import suite as suites

log = logging.getLogger(__name__)
TASK_KEYS = (
    ("prepare", "stratify"),
    ("prepare", "positive_class"),
    ("train", "metric"),
    ("train", "threshold"),
    ("register", "metric"),
    ("register", "floor"),
)
# The starting grid of each task's linear family (metrics.TASKS names the family) when the task is switched.
LINEAR_GRID: dict[str, dict[str, list[float]]] = {
    "logistic_regression": {"C": [0.1, 1.0, 10.0]},
    "ridge": {"alpha": [0.1, 1.0, 10.0]},
}


def suite_name(path: Path) -> str:
    """The suite for a data file is named after it (penguins.csv -> gx/expectations/penguins.json)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._-") or "raw_data"


def _dvc(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"dvc {' '.join(args)} failed:\n{(done.stderr or done.stdout).strip()}")


def _yaml() -> Any:
    """A YAML reader/writer that keeps params.yaml's comments and layout."""
    from ruamel.yaml import YAML  # DVC's own YAML library (it edits params.yaml the same way for `dvc exp run -S`)

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout params.yaml is written in
    yaml.width = 120
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def edit_params(
    params_file: Path, *, source: str, target: str, task: str | None, drop: list[str] | None, suite: str
) -> list[str]:
    """Set the data keys in params.yaml with comments kept; returns what changed, one line each."""
    from ruamel.yaml.comments import CommentedSeq

    yaml = _yaml()
    data: Any = yaml.load(params_file.read_text())
    changed = []

    def put(section: Any, key: str, value: Any, label: str) -> None:
        if section.get(key) != value:
            changed.append(f"{label}: {section.get(key)!r} -> {value!r}")
            section[key] = value

    old_source = data["ingest"].get("source")
    put(data["ingest"], "source", source, "ingest.source")
    put(data["ingest"], "target", target, "ingest.target")
    if drop is not None or old_source != source:
        put(data["ingest"], "drop_columns", list(drop or []), "ingest.drop_columns")
    put(data["validate"], "suite", suite, "validate.suite")
    search = data["train"]["search"]  # a new table gets a search fitted to it, not the sample's value lists
    put(search, "strategy", "auto", "train.search.strategy")
    if "max_trials" in search:
        del search["max_trials"]
        changed.append("train.search.max_trials: removed, train.search.max_seconds bounds the auto search")
    if task and task != data.get("task"):
        put(data, "task", task, "task")
        for section, key in TASK_KEYS:
            if key in (data.get(section) or {}):
                del data[section][key]
                changed.append(f"{section}.{key}: removed, it follows the {task} default now")
        family, other = TASKS[task].linear_family, TASKS[task].other.linear_family
        for index, candidate in enumerate(data["train"]["search"]["candidates"]):
            if candidate.get("family") == other:
                ((name, values),) = LINEAR_GRID[family].items()
                flow = CommentedSeq(values)
                flow.fa.set_flow_style()  # C: [0.1, 1.0, 10.0], as written by hand
                data["train"]["search"]["candidates"][index] = {
                    "family": family,
                    "params": {name: flow},
                }
                changed.append(f"train.search.candidates[{index}]: {other} -> {family}")
    with params_file.open("w") as stream:
        yaml.dump(data, stream)
    return changed


def bring(
    file: Path | str,
    target: str,
    *,
    task: str | None = None,
    drop: list[str] | None = None,
    params_file: Path = PARAMS_FILE,
) -> Path:
    """The whole bring-your-own-data step; returns the suite file the data is checked against."""
    source = Path(file).expanduser()
    if not source.is_file():
        raise UserError(f"FILE={file}: no such file")
    if source.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"FILE={file}: only .csv and .parquet files can be ingested")
    if task and task not in TASKS:
        raise UserError(f"TASK={task}: use {' or '.join(TASKS)}")
    before = load(params_file)
    columns = [str(c) for c in tables.read_table(source, before.ingest.delimiter).columns]
    if target not in columns:  # checked before anything is copied or changed
        raise UserError(f"TARGET={target} is not a column of {file}; its columns are {', '.join(columns)}")
    unknown = [c for c in drop or () if c not in columns]
    if unknown:
        raise UserError(f"DROP names column(s) not in {file}: {', '.join(unknown)}")
    destination = before.paths.external / re.sub(r"[^A-Za-z0-9_.-]+", "_", source.name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != destination.resolve():
        shutil.copyfile(source, destination)
        log.info("copied %s to %s", source, destination)
    _dvc("add", str(destination))
    log.info("versioned %s with DVC (%s.dvc)", destination, destination)
    suite = suite_name(destination)
    for line in edit_params(
        params_file, source=str(destination), target=target, task=task or None, drop=drop, suite=suite
    ):
        log.info("params.yaml %s", line)
    cfg = load(params_file)  # the cross-checks run here: a task switch that needs more is one error listing it
    _dvc("repro", "ingest")
    frame = sources.validated(pd.read_parquet(cfg.paths.raw), cfg.ingest)
    same_file = before.ingest.source == cfg.ingest.source
    decided = (before.ingest.target, before.task, before.ingest.drop_columns)
    changed_mind = same_file and decided != (cfg.ingest.target, cfg.task, cfg.ingest.drop_columns)
    found = roles.infer(frame, target, TASKS[cfg.task].has_classes, kept_roles(before, cfg, frame))
    roles.show(found, target)
    for line in write_roles(params_file, found):
        log.info("params.yaml %s", line)
    path = suites.suite_path(suite)
    if not path.exists():
        suites.write_suite(frame, cfg.validate_.suite)
        log.info("drafted %s: review it (ranges, value sets), then commit it with the data's .dvc file", path)
    elif changed_mind:
        _, added, removed = suites.redraft(frame, cfg.validate_.suite)
        log.info(
            "redrafted %s for the new TARGET/TASK/DROP (columns added: %s; removed: %s), keeping the reviewed checks "
            "of the columns that stay: review it, then commit it",
            path,
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
        )
    else:
        log.info("%s exists: this data is checked against it (make suite redrafts it from this data)", path)
    log.info("next: make pipeline")
    return path


def kept_roles(before: Config, cfg: Config, frame: pd.DataFrame) -> dict[str, str]:
    """The roles params.yaml gives that still apply (same file, columns that stay and are no target): the user's
    review survives a new version of the data or another DROP; another file is inferred afresh."""
    if before.ingest.source != cfg.ingest.source:
        return {}
    columns = {str(c) for c in frame.columns} - {cfg.ingest.target}
    return {column: role for column, role in before.prepare.roles.items() if column in columns}


def write_roles(params_file: Path, found: list[roles.ColumnRole]) -> list[str]:
    """params.yaml ``prepare.roles``: every column's role, its reason as a comment (comments elsewhere kept)."""
    from ruamel.yaml.comments import CommentedMap

    yaml = _yaml()
    data: Any = yaml.load(params_file.read_text())
    old = dict(data["prepare"].get("roles") or {})
    written = CommentedMap()
    column = 4 + max(len(f"{r.column}: {r.role}") for r in found) + 2  # the reasons aligned, as written by hand
    for role in found:
        written[role.column] = role.role
        reason = (
            role.reason.removeprefix("set in params.yaml (").removesuffix(")") if role.set_in_params else role.reason
        )
        note = f"# {reason}" + ("; LIKELY TARGET LEAK" if role.leak else "")
        written.yaml_add_eol_comment(note, role.column, column=column)
    data["prepare"]["roles"] = written
    with params_file.open("w") as stream:
        yaml.dump(data, stream)
    new = {r.column: r.role for r in found}
    return [
        f"prepare.roles.{c}: {old.get(c)!r} -> {new.get(c)!r}"
        for c in dict.fromkeys([*old, *new])
        if old.get(c) != new.get(c)
    ]
