"""Empty a serving layer (its predictions and requests), so that a replica run counts only its own rows.

python empty_serving_layer.py PACKAGE DB_URL
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    package, url = sys.argv[1], sys.argv[2]
    database = importlib.import_module(f"{package}.predictions.database")
    with database.connect(url).begin() as connection:
        connection.execute(database.predictions.delete())
        connection.execute(database.requests.delete())
    print("emptied")


if __name__ == "__main__":
    main()
