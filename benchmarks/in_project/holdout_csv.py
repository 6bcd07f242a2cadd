"""A CSV of ROWS rows with a header: the holdout without its target, repeated (the edge bundle's and the batch
command's shared input).

    python holdout_csv.py ROWS OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml


def main() -> None:
    rows, out = int(sys.argv[1]), sys.argv[2]
    target = yaml.safe_load(Path("params.yaml").read_text())["ingest"]["target"]
    holdout = pd.read_parquet("data/processed/test.parquet").drop(columns=[target])
    repeated = pd.concat([holdout] * (rows // len(holdout) + 1), ignore_index=True)
    repeated.head(rows).to_csv(out, index=False)


if __name__ == "__main__":
    main()
