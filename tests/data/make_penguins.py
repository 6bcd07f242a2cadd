"""Write tests/data/penguins.csv: a small, deterministic, made-up table shaped like the Palmer penguins data.

300 rows; text columns (`island`, `sex`), `NA` for missing values in several columns, an integer `year`, and
two targets on the same file: `species` (3 text classes) and `body_mass_g` (a number). No download: run
`python tests/data/make_penguins.py` to regenerate it byte for byte.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SPECIES = {  # island weights, bill length, bill depth, flipper, body mass (means)
    "Adelie": ({"Torgersen": 1, "Biscoe": 1, "Dream": 1}, 38.8, 18.3, 190, 3700),
    "Chinstrap": ({"Dream": 1}, 48.8, 18.4, 196, 3730),
    "Gentoo": ({"Biscoe": 1}, 47.5, 15.0, 217, 5080),
}
COUNTS = {"Adelie": 130, "Chinstrap": 60, "Gentoo": 110}


def rows(seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for species, count in COUNTS.items():
        islands, bill, depth, flipper, mass = SPECIES[species]
        for _ in range(count):
            sex = rng.choice(["male", "female"])
            bigger = 1.04 if sex == "male" else 0.96
            row = {
                "island": rng.choices(list(islands), weights=list(islands.values()))[0],
                "bill_length_mm": f"{rng.gauss(bill * bigger, 2.5):.1f}",
                "bill_depth_mm": f"{rng.gauss(depth * bigger, 0.9):.1f}",
                "flipper_length_mm": str(round(rng.gauss(flipper * bigger, 6))),
                "body_mass_g": str(round(rng.gauss(mass * bigger, 300) / 25) * 25),
                "sex": sex,
                "year": str(rng.choice([2007, 2008, 2009])),
                "species": species,
            }
            for column in ("bill_length_mm", "bill_depth_mm", "sex"):
                if rng.random() < 0.03:
                    row[column] = "NA"
            out.append(row)
    rng.shuffle(out)
    return out


def main() -> None:
    table = rows()
    path = Path(__file__).with_name("penguins.csv")
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    print(f"wrote {len(table)} rows to {path}")


if __name__ == "__main__":
    main()
