"""The config's cross checks (core/config.py runs them after each section is valid on its own): what does not fit
together, one line per problem with its fix, every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .families import LEARNS
from .metrics import METRICS, TASKS


def cross_check(cfg: Any) -> list[str]:
    """What does not fit together in an otherwise well-formed config (a core/config.Config, which imports this
    module: hence not named in the signature), one line per problem with its fix."""
    kind_of_task = TASKS[cfg.task]
    task, other = kind_of_task.name, kind_of_task.other.name
    allowed = kind_of_task.metrics
    problems = []
    for key, name in (("train.metric", cfg.train.metric), ("register.metric", cfg.register_.metric)):
        if name not in allowed:
            kind = f"a {other} metric, not a {task} metric" if name in METRICS else "not a known metric"
            problems.append(
                f"{key}: {name!r} is {kind}: use one of {', '.join(allowed)}"
                f" (or leave the key out: the {task} default is {kind_of_task.default_metric})"
            )
    if not kind_of_task.has_classes and cfg.train.threshold.objective != "none":
        problems.append(
            f"train.threshold.objective: {cfg.train.threshold.describe} tunes a classifier's decision threshold; "
            "regression has none: set it to none (or leave train.threshold out)"
        )
    if not kind_of_task.has_classes and cfg.prepare.positive_class is not None:
        problems.append(
            f"prepare.positive_class: {cfg.prepare.positive_class!r} names a class; regression has none: leave it out"
        )
    if cfg.prepare.stratify and not kind_of_task.has_classes:
        problems.append(
            "prepare.stratify: true needs classes to stratify on: set it to false for regression (or leave it out)"
        )
    for index, candidate in enumerate(cfg.train.search.candidates):
        tasks = LEARNS.get(candidate.family)
        if tasks is not None and task not in tasks:
            usable = ", ".join(name for name, learns in LEARNS.items() if task in learns)
            problems.append(
                f"train.search.candidates[{index}].family: {candidate.family!r} has no {task} estimator: "
                f"use {kind_of_task.linear_family!r} (with its own params) or one of {usable}"
            )
    metric = METRICS.get(cfg.register_.metric)
    floor = cfg.register_.floor
    if metric is not None and floor is not None:
        low = metric.low if metric.low is not None else float("-inf")
        high = metric.high if metric.high is not None else float("inf")
        if not low <= floor <= high:
            span = f"{'' if metric.low is None else metric.low}..{'' if metric.high is None else metric.high}"
            problems.append(
                f"register.floor: {floor} is outside what {metric.name} can be ({span}); "
                f"{metric.name} is {'greater' if metric.greater_is_better else 'smaller'} is better, "
                f"so the floor is the {'least' if metric.greater_is_better else 'most'} it may be "
                f"(or leave the key out: the default floor for {metric.name} is {metric.default_floor})"
            )
        elif floor == (low if not metric.greater_is_better else high):
            problems.append(
                f"register.floor: {floor} is the best {metric.name} possible, so no model but a perfect one can "
                f"pass: set a reachable floor"
            )
    source, external = Path(cfg.ingest.source), cfg.paths.external
    if cfg.ingest.sklearn_dataset is None and (source.is_absolute() or external not in source.parents):
        problems.append(
            f"ingest.source: {cfg.ingest.source!r} must be a relative path under {external}/ (paths.external) "
            f"so DVC sees when it changes"
        )
    harvested = cfg.paths.harvested
    if external not in harvested.parents or harvested.suffix.lower() not in (".csv", ".parquet") or harvested == source:
        problems.append(
            f"paths.harvested: {str(harvested)!r} must be a .parquet or .csv file under {external}/ (paths.external), "
            "other than ingest.source"
        )
    dataset = cfg.ingest.sklearn_dataset
    if dataset is not None and dataset not in kind_of_task.datasets:
        problems.append(
            f"ingest.source: {cfg.ingest.source!r} is not a {task} dataset: use "
            + " or ".join(f"sklearn:{name}" for name in kind_of_task.datasets)
        )
    return problems
