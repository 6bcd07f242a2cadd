"""Run the package's command line (`python -m PACKAGE ARGS...`) and report on stderr, last, which of MLflow and
BentoML it imported: the batch command's fixed cost is mostly imports.

    python run_reporting_imports.py PACKAGE ARGS...
"""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    package = sys.argv[1]
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    try:
        runpy.run_module(package, run_name="__main__")
    finally:
        print("imported:", *(m for m in ("mlflow", "bentoml") if m in sys.modules), file=sys.stderr)


if __name__ == "__main__":
    main()
