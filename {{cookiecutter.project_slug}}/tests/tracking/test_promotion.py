"""Serialisable promotion (registry.settle_champion): two versions promoted at once against the same champion end
with the better one as champion, in whichever order their register stages move the alias. A real MLflow registry
(SQLite); the race itself, two pipelines against one `mlflow server` on PostgreSQL, is the template's
tests/test_tracking_server.py."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.tracking import registry

NAME = "race"


@pytest.fixture
def client(tmp_path) -> MlflowClient:
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    return client


def promoted(client: MlflowClient, tmp_path, auc: float, *, move_alias: bool = True) -> str:
    """A version as register leaves it before settling: registered, gate tags written, alias moved to it."""
    source = Path(tempfile.mkdtemp(dir=tmp_path))
    version = str(client.create_model_version(NAME, source=str(source)).version)
    client.set_model_version_tag(NAME, version, "gate.decision", "promoted")
    client.set_model_version_tag(NAME, version, "holdout.roc_auc", str(auc))
    if move_alias:
        client.set_registered_model_alias(NAME, tracking.CHAMPION, version)
    return version


def settle(client: MlflowClient, version: str, baseline: str = "1") -> str:
    return registry.settle_champion(client, NAME, version, baseline=baseline, metric="roc_auc", greater_is_better=True)


def champion(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, tracking.CHAMPION).version)


@pytest.mark.parametrize("better_first", [True, False], ids=["better-settles-first", "worse-settles-first"])
def test_the_better_of_two_rivals_stays_champion_in_either_order(client, tmp_path, better_first) -> None:
    # given a champion v1 and two versions that both beat it, registered by two pipelines at once
    old = promoted(client, tmp_path, 0.80)
    client.set_model_version_tag(NAME, old, registry.PROMOTION_BASELINE, "none")
    better = promoted(client, tmp_path, 0.95, move_alias=False)
    worse = promoted(client, tmp_path, 0.90, move_alias=False)
    # when each moves the alias to itself and settles, in either order (the worse one moving it last)
    order = [better, worse] if better_first else [worse, better]
    for version in order:
        client.set_registered_model_alias(NAME, tracking.CHAMPION, version)
    for version in order:
        settle(client, version, baseline=old)
    # then the better one is champion, and both versions are registered
    assert champion(client) == better
    assert {str(v.version) for v in client.search_model_versions(f"name = '{NAME}'")} == {old, better, worse}
    assert client.get_model_version(NAME, order[-1]).tags[registry.PROMOTION_SETTLED] == f"champion v{better}"


def test_a_stale_alias_write_after_settling_is_undone_by_the_rivals_recheck(client, tmp_path) -> None:
    # given the better version settled, then the worse one's register moves the alias over it (it ran late)
    better = promoted(client, tmp_path, 0.95)
    assert settle(client, better) == better
    worse = promoted(client, tmp_path, 0.90)
    assert champion(client) == worse
    # when the worse one settles, it reads the rival's tags and gives the alias back
    assert settle(client, worse) == better
    assert champion(client) == better


def test_a_version_promoted_against_the_new_champion_is_not_compared_with_older_rivals(client, tmp_path) -> None:
    # an old version scored higher on another holdout; the next promotion compares only with its own baseline
    first = promoted(client, tmp_path, 0.99)
    settle(client, first, baseline="none")
    later = promoted(client, tmp_path, 0.85)
    assert settle(client, later, baseline=first) == later
    assert champion(client) == later


def test_error_metrics_prefer_the_lower_value_and_ties_the_older_version(client, tmp_path) -> None:
    a, b, c = (promoted(client, tmp_path, value, move_alias=False) for value in (0.3, 0.2, 0.2))
    for version in (a, b, c):
        registry.settle_champion(client, NAME, version, baseline="1", metric="roc_auc", greater_is_better=False)
    assert champion(client) == b


def test_threads_settling_at_once_agree_on_the_best(client, tmp_path) -> None:
    # given six rivals promoted against the same champion, settling on six threads at the same time
    scores = [0.91, 0.97, 0.93, 0.95, 0.92, 0.96]
    versions = [promoted(client, tmp_path, score, move_alias=False) for score in scores]
    start, errors = threading.Barrier(len(versions)), []

    def race(version: str) -> None:
        start.wait()
        try:
            settle(client, version)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=race, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert champion(client) == versions[scores.index(max(scores))]
