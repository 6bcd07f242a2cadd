"""A small project of the project's own tests (tests/helpers.py), its pipeline run up to `prepare`: ready for a
`python -m <package> train` against a tracking server.

python train_ready.py PACKAGE DIR   (run in the project's folder: its tests/ package is imported from there)
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> None:
    package, root = sys.argv[1], Path(sys.argv[2])
    sys.path.insert(0, ".")
    helpers = importlib.import_module("tests.helpers")
    config = importlib.import_module(f"{package}.core.config")
    helpers.make_project(root)
    with helpers.inside(root):
        helpers.run_pipeline(config.load("params.yaml"), until="prepare")


if __name__ == "__main__":
    main()
