"""The number of online (served) predictions a serving layer holds.

python count_online_rows.py PACKAGE DB_URL
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    package, url = sys.argv[1], sys.argv[2]
    database = importlib.import_module(f"{package}.predictions.database")
    queries = importlib.import_module(f"{package}.predictions.queries")
    print(queries.count(database.connect(url), database.ONLINE))


if __name__ == "__main__":
    main()
