"""Write a messy events table, seeded and without a download: what issue 20's tables had, in one file.

50,000 rows (+600): an integer row index (`record`) and a uuid string (`ref`), identifiers whose names do not say
so; an ISO timestamp (`created`); a 5,000-value (`merchant`) and a 20-value (`channel`) text column; numbers with
missing values (`amount` empty, `age` "NA") and a continuous measure unique per row (`score`), which is no
identifier; a 3%-positive "yes"/"no" target (`fraud`) missing in 10% of rows; a column that leaks the target
(`settlement`: set after the outcome); then 300 rows that repeat another's values under new ids and 300 exact
duplicates (whole rows, ids included). tests/test_messy_table.py and benchmarks/onnx_parity.py use it:

    python tests/data/make_messy_table.py OUT.csv [ROWS]
"""

from __future__ import annotations

import csv
import random
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROWS = 50_000
COPIES = 300  # exact duplicates (whole rows, ids included), and as many rows with another's values under new ids


def messy_rows(rows: int = ROWS, seed: int = 20) -> list[dict[str, str]]:
    rng = random.Random(seed)
    start = datetime(2023, 1, 1)
    risk = [rng.gauss(0, 1) for _ in range(5000)]
    weights = [1 / (i + 1) ** 0.6 for i in range(5000)]
    merchants = rng.choices(range(5000), weights=weights, k=rows)
    out = []
    for i in range(rows):
        created = start + timedelta(seconds=rng.randrange(2 * 365 * 86400))
        amount = round(rng.lognormvariate(3.5, 1.0), 2)
        channel = rng.randrange(20)
        score = rng.gauss(0, 1)
        logit = -4.5 + 0.5 * (amount > 60) + 0.9 * risk[merchants[i]] + 0.6 * (channel < 3) + 0.7 * (created.hour < 5)
        fraud = rng.random() < 1 / (1 + pow(2.718281828, -(logit + 0.5 * score)))
        settlement = "chargeback" if fraud != (rng.random() < 0.002) else "settled"  # the outcome, almost exactly
        out.append(
            {
                "record": str(i + 1),
                "ref": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created": created.isoformat(),
                "merchant": f"M{merchants[i]:05d}",
                "channel": f"channel_{'abcdefghijklmnopqrst'[channel]}",
                "amount": "" if rng.random() < 0.05 else str(amount),
                "age": "NA" if rng.random() < 0.08 else str(rng.randrange(18, 90)),
                "score": repr(score),
                "settlement": settlement,
                "fraud": "" if rng.random() < 0.10 else ("yes" if fraud else "no"),
            }
        )
    for n, row in enumerate(rng.sample(out, COPIES)):  # same features, other ids: not duplicates, one side of the split
        out.append(row | {"record": str(rows + n + 1), "ref": str(uuid.UUID(int=rng.getrandbits(128), version=4))})
    out += [dict(row) for row in rng.sample(out[:rows], COPIES)]  # exact duplicates, ids included
    return out


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    write_csv(Path(sys.argv[1]), messy_rows(int(sys.argv[2]) if len(sys.argv) > 2 else ROWS))
