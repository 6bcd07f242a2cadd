"""How many MLflow runs on a tracking server are RUNNING (over all its experiments); prints the count.

python running_runs.py TRACKING_URI
"""

from __future__ import annotations

import sys

import mlflow


def main() -> None:
    client = mlflow.MlflowClient(sys.argv[1])
    running = "attributes.status = 'RUNNING'"
    print(sum(len(client.search_runs([e.experiment_id], running)) for e in client.search_experiments()))


if __name__ == "__main__":
    main()
