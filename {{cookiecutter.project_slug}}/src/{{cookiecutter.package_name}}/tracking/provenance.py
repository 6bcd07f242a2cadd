"""Where a candidate came from, checked before register registers it: only what main trained becomes a version.

models/candidate.json is a file in git, so a pull request can commit one that names any run and logged model it
can reach, e.g. one it logged itself in the pull-request experiment. register (and evaluate, before it loads the
candidate) accept a candidate only when

- its run and its logged model are in the experiment this job trains into (register: params.yaml's
  ``tracking.experiment``, whatever MLFLOW_EXPERIMENT_NAME says), the model was logged by that run, and the
  model URI is the logged model's own ``models:/m-<id>``;
- on a tracking server with users (MLFLOW_TRACKING_USERNAME set), the run was started by this job's own user
  (its ``mlflow.user`` tag, which MLflow sets to the signed-in user).

The tag is written by the client; what makes the check binding is the server's permissions: only the writer may
create runs and logged models in the project's experiment (docs/ci.md), so a run there is the writer's. On a file or
SQLite store without users the experiment check is the one that applies.
"""

from __future__ import annotations

import os
from typing import Any

from ..core.errors import UserError
from ..core.reports import Candidate
from .model_files import MODEL_ID

USER_TAG = "mlflow.user"  # MLflow sets it on every run to the tracking server's user (else the OS user)


class ForeignCandidate(UserError):
    """The candidate was not trained by this project's job: it is not registered (nor loaded)."""


def check_candidate(client: Any, candidate: Candidate, experiment_name: str) -> None:
    """Refuse ``candidate`` unless its run and logged model belong to ``experiment_name`` (and to this user)."""
    from mlflow.exceptions import MlflowException

    def refuse(why: str) -> ForeignCandidate:
        return ForeignCandidate(
            f"refusing candidate run {candidate.run_id} ({candidate.model_uri}): {why}. Only a model trained into "
            f"the experiment {experiment_name!r} by this job is registered: run `dvc repro --force train` here"
        )

    if not MODEL_ID.match(candidate.model_uri) or candidate.model_uri != f"models:/{candidate.model_id}":
        raise refuse("its model URI is not the logged model's own models:/m-<id>")
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise refuse(f"there is no experiment {experiment_name!r} on this tracking store")
    try:
        run = client.get_run(candidate.run_id)
        model = client.get_logged_model(candidate.model_id)
    except MlflowException as error:
        raise refuse(f"the tracking store does not show its run or model to this user ({error.error_code})") from None
    if run.info.experiment_id != experiment.experiment_id:
        raise refuse(f"its run is in experiment {run.info.experiment_id}, not {experiment_name!r}")
    if model.experiment_id != experiment.experiment_id or model.source_run_id != run.info.run_id:
        raise refuse("its logged model was not logged by that run in that experiment")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user and run.data.tags.get(USER_TAG) != user:
        raise refuse(f"its run was started by {run.data.tags.get(USER_TAG)!r}, not by this job's user {user!r}")
