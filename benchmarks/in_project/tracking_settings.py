"""The project's tracking URI (as its config resolves it) and registered model name, as one JSON list.

python tracking_settings.py PACKAGE
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    config = importlib.import_module(f"{sys.argv[1]}.core.config").load()
    print(json.dumps([config.tracking.resolved_uri, config.tracking.model_name]))


if __name__ == "__main__":
    main()
