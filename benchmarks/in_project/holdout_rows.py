"""Request rows: the model's input columns of ROWS holdout rows (the first ones, or with --sample a sample with
replacement, seed 0), printed as one JSON line in pandas' "split" orientation (columns, data).

    python holdout_rows.py ROWS [--sample]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def main() -> None:
    rows, sample = int(sys.argv[1]), "--sample" in sys.argv[2:]
    names = [f["name"] for f in json.loads(Path("data/processed/features.json").read_text())["features"]]
    holdout = pd.read_parquet("data/processed/test.parquet")[names]
    picked = holdout.sample(rows, replace=True, random_state=0) if sample else holdout.head(rows)
    print(picked.to_json(orient="split", index=False))


if __name__ == "__main__":
    main()
