"""train: search the candidates as nested MLflow child runs, tune the best one's decision threshold (a binary
target: training/threshold.py), refit it and log it as the run's model.

Writes models/candidate.json (core/reports.Candidate: run id and model URI), which evaluate and register read.
"""

from __future__ import annotations

import logging

import pandas as pd

from ..core.config import Config
from ..core.reports import Candidate
from ..core.schema import Schema
from ..data.tables import file_md5
from ..tracking import outages, runs
from ..training import auto_space, features, models, search, search_logging

log = logging.getLogger(__name__)


def run(cfg: Config) -> Candidate:
    paths = cfg.paths
    for key, why in cfg.data_defaults.items():  # the metric keys the data chose (core/config.py)
        log.info("%s: %s (set it in params.yaml to choose)", key, why)
    families = [candidate.family for candidate in cfg.train.search.candidates]
    if cfg.train.search.strategy == "auto":
        families = auto_space.families_for_data(cfg.task, rows=0)
    device = models.resolve_device(cfg.train.device, families)  # first: a wrong device fails before any work
    schema = Schema.load(paths.features)
    frame = pd.read_parquet(paths.train)
    X = features.conform(frame, schema)
    trials = search.plan(cfg.train.search, cfg.task, cfg.train.seed)
    runs.configure(cfg.tracking)

    data_md5 = file_md5(paths.train)
    with outages.run(cfg.tracking, run_name=runs.run_name("search", data_md5)):
        candidate = search_logging.search_and_log(cfg, frame, X, schema, trials, device=device, data_md5=data_md5)
    candidate.save(paths.candidate)
    return candidate
