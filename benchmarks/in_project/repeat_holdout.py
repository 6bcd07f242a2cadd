"""A Parquet file of ROWS rows: the holdout repeated, written in row groups of ~100,000 rows (the writer's memory
stays small whatever ROWS is).

    python repeat_holdout.py ROWS OUT
"""

from __future__ import annotations

import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    rows, out = int(sys.argv[1]), sys.argv[2]
    holdout = pd.read_parquet("data/processed/test.parquet")
    repeated = pd.concat([holdout] * max(1, 100_000 // len(holdout)), ignore_index=True)
    piece = pa.Table.from_pandas(repeated, preserve_index=False)
    with pq.ParquetWriter(out, piece.schema) as writer:
        left = rows
        while left:
            take = min(left, piece.num_rows)
            writer.write_table(piece.slice(0, take))
            left -= take


if __name__ == "__main__":
    main()
