"""The JSON files between stages, read and written through one model each: what is written reads back the same, a
file that does not fit names itself and the field, and the DVC metric keeps its flat shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.core.errors import MissingFile, UserError
from {{ cookiecutter.package_name }}.core.reports import (
    Candidate,
    ChampionScores,
    HoldoutMetrics,
    Prepared,
    Profile,
    ReportError,
    SchemaChangeReport,
)

CANDIDATE = {
    "run_id": "r1",
    "run_name": "ridge · data 01234567",
    "data_md5": "0123456789abcdef",
    "model_uri": "models:/m-1",
    "model_id": "m-1",
    "family": "ridge",
    "params": {"alpha": 1.0, "solver": None},
    "cv_r2": 0.81,
    "device": "cpu",
    "trials": 3,
    "best_trial_run_id": "r2",
    "threshold": None,  # a regression model has no decision threshold
    "threshold_objective": None,
}


def test_a_candidate_reads_back_as_written_with_its_cross_validated_score(tmp_path: Path) -> None:
    candidate = Candidate.model_validate(CANDIDATE)
    candidate.save(tmp_path / "models" / "candidate.json")
    again = Candidate.load(tmp_path / "models" / "candidate.json")
    assert again == candidate
    assert again.cv_scores == {"cv_r2": 0.81}
    assert json.loads((tmp_path / "models" / "candidate.json").read_text()) == CANDIDATE


def test_the_holdout_metrics_keep_the_champion_flat_as_a_dvc_metric(tmp_path: Path) -> None:
    # given evaluate's numbers: a scored champion, then one trained on other features
    scored = ChampionScores.model_validate({"version": 3, "r2": 0.7, "rmse": 40.0})
    change = SchemaChangeReport(added=["x"], removed=[], retyped=[], task=None, classes=None, summary="1 column added")
    changed = ChampionScores(version=4, schema_change=change)
    for champion, written in [
        (scored, {"version": 3, "r2": 0.7, "rmse": 40.0}),
        (changed, {"version": 4, "schema_change": change.model_dump()}),
        (None, None),
    ]:
        report = HoldoutMetrics(candidate={"r2": 0.8}, champion=champion, baseline={"r2": 0.0}, holdout_rows=90)
        # when written and read back
        report.save(tmp_path / "metrics.json")
        # then the file holds the champion's metrics beside its version (what `dvc metrics show` lists), no empty keys
        assert json.loads((tmp_path / "metrics.json").read_text())["champion"] == written
        assert HoldoutMetrics.load(tmp_path / "metrics.json") == report
    assert scored.scores == {"r2": 0.7, "rmse": 40.0} and changed.scores == {}


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda data: data.pop("model_uri"), "model_uri: Field required"),
        (lambda data: data.update(trials="three"), "trials: Input should be a valid integer"),
        (lambda data: data.update(cv_r2="high"), "cv_r2: Input should be a valid number"),
    ],
)
def test_a_report_that_does_not_fit_names_the_file_and_the_field(tmp_path: Path, edit, named: str) -> None:
    data = dict(CANDIDATE)
    edit(data)
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError) as error:
        Candidate.load(path)
    assert isinstance(error.value, UserError)  # one line on the command line, no traceback
    message = str(error.value)
    assert message.startswith(f"{path} is not a Candidate report") and named in message
    assert "\n" not in message


def test_a_missing_report_is_a_missing_file_or_none(tmp_path: Path) -> None:
    with pytest.raises(MissingFile, match=r"prepare\.json not found"):
        Prepared.load(tmp_path / "prepare.json")
    assert Prepared.read(tmp_path / "prepare.json") is None


def test_a_profile_round_trips_through_the_versions_tags() -> None:
    found = Profile(
        runtime="onnxruntime",
        latency_p50_ms=0.0675,
        latency_p99_ms=0.21,
        rows_per_s=930000.5,
        size_mb=0.0027,
        load_s=0.11,
        rss_mb=150.2,
        features=30,
    )
    tags = found.tags()
    assert tags["profile.latency_p99_ms"] == "0.21" and tags["profile.runtime"] == "onnxruntime"
    assert Profile.from_tags(tags | {"gate.decision": "promoted"}) == found
    # a version registered before profiling, or with a tag missing, has none
    assert Profile.from_tags({"gate.decision": "promoted"}) is None
    assert Profile.from_tags({k: v for k, v in tags.items() if k != "profile.rss_mb"}) is None
