"""ingest: bring the source table into data/raw/dataset.parquet (a DVC output, so it is versioned)."""

from __future__ import annotations

import logging

import pandas as pd

from ..core.config import Config
from ..data import sources

log = logging.getLogger(__name__)


def run(cfg: Config) -> pd.DataFrame:
    frame, output = sources.load(cfg.ingest), cfg.paths.raw
    output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(output, index=False)
    log.info("ingested %d rows x %d columns from %s into %s", len(frame), frame.shape[1], cfg.ingest.source, output)
    return frame
