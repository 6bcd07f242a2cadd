"""review: the pull-request comment body, and the exit code that fails the check when the gate fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import __main__ as cli
from {{ cookiecutter.package_name }} import config, review

CANDIDATE = {"roc_auc": 0.93, "accuracy": 0.9, "log_loss": 0.2}
VALIDATION = {
    "success": True,
    "suite": "raw_data",
    "statistics": {"evaluated_expectations": 12, "successful_expectations": 12},
    "failures": [],
}


def write_reports(root: Path, holdout: dict, validation: dict | None = VALIDATION) -> None:
    reports = root / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "metrics.json").write_text(json.dumps(holdout))
    if validation is not None:
        (reports / "validation.json").write_text(json.dumps(validation))


def holdout(candidate: dict, champion: dict | None, rows: int = 100) -> dict:
    return {"candidate": candidate, "champion": champion, "holdout_rows": rows}


def gate_metric(cfg: config.Config) -> str:
    return cfg.register_.metric


def scores(cfg: config.Config, value: float) -> dict[str, float]:
    """Candidate metrics where the gate metric is ``value``."""
    return {gate_metric(cfg): value, "extra_metric_for_the_table": 0.5}


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True, capture_output=True
    )


# --- pure parts ----------------------------------------------------------------------------------------------


def test_flatten_joins_nested_keys_and_keeps_lists_as_values() -> None:
    tree = {"train": {"seed": 1, "search": {"params": {"C": [0.1, 1]}}}, "task": "classification"}
    assert review.flatten(tree) == {"train.seed": 1, "train.search.params.C": [0.1, 1], "task": "classification"}


def test_params_diff_lists_changed_added_and_removed_keys() -> None:
    base = {"train": {"seed": 1, "cv_folds": 5}, "prepare": {"test_size": 0.2}}
    head = {"train": {"seed": 2, "cv_folds": 5, "device": "cuda"}}
    assert review.params_diff(base, head) == [
        ("prepare.test_size", 0.2, None),
        ("train.device", None, "cuda"),
        ("train.seed", 1, 2),
    ]


def test_params_diff_is_empty_for_equal_params() -> None:
    params = {"train": {"search": {"candidates": [{"family": "ridge"}]}}}
    assert review.params_diff(params, json.loads(json.dumps(params))) == []


def test_the_marker_comes_first_and_names_the_model() -> None:
    # Given a passing dry-run gate
    gate = review.Gate(True, ("pass: floor",), "dry run")
    # When the report is rendered
    body = review.render(
        model_name="churn",
        gate=gate,
        gate_metric="roc_auc",
        holdout=holdout(CANDIDATE, None),
        validation=VALIDATION,
        changes=[],
        base="main",
    )
    # Then the workflow can find the comment by its first line
    assert body.splitlines()[0] == "<!-- churn-model-review -->" == review.marker("churn")
    assert "would become champion" in body
    assert "no champion yet" in body


def test_the_metrics_table_compares_with_the_champion_in_the_metrics_direction() -> None:
    champion = {"version": 3, "roc_auc": 0.95, "accuracy": 0.85, "log_loss": 0.3}
    lines = review.metrics_section(holdout(CANDIDATE, champion), "roc_auc")
    table = "\n".join(lines)
    assert "| champion v3 |" in lines[0]
    assert "| **roc_auc** (gate) | 0.9300 | 0.9500 | -0.0200 worse |" in table
    assert "| accuracy | 0.9000 | 0.8500 | +0.0500 better |" in table
    assert "| log_loss | 0.2000 | 0.3000 | -0.1000 better |" in table  # lower loss is better
    assert "same holdout of 100 rows" in table


def test_a_champion_that_could_not_be_scored_is_explained() -> None:
    lines = review.metrics_section(holdout(CANDIDATE, {"version": 2, "error": "feature mismatch"}), "roc_auc")
    assert any("could not be scored on this holdout: feature mismatch" in line for line in lines)


def test_params_cells_escape_pipes_and_cut_long_values() -> None:
    lines = review.params_section([("ingest.source", "a|b", "x" * 200)], "main", None)
    assert '`"a\\|b"`' in lines[2]
    assert lines[2].count("x") < 100 and "..." in lines[2]


def test_validation_failures_are_listed() -> None:
    failed = {
        "success": False,
        "suite": "raw_data",
        "statistics": {"evaluated_expectations": 3, "successful_expectations": 2},
        "failures": [{"expectation": "expect_column_values_to_not_be_null", "column": "age", "unexpected_count": 4}],
    }
    text = "\n".join(review.validation_section(failed))
    assert "FAILED: 2/3 expectations met" in text
    assert "| expect_column_values_to_not_be_null | age | 4 |" in text


def test_plots_link_to_the_workflow_artifact() -> None:
    lines = review.plots_section(["roc_curve.png"], "https://github.com/o/r/actions/runs/1/artifacts/2")
    assert lines == [
        "[Download the plots](https://github.com/o/r/actions/runs/1/artifacts/2) (workflow artifact): `roc_curve.png`."
    ]


def test_run_url_comes_from_the_actions_environment() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    assert review.run_url(env) == "https://github.com/o/r/actions/runs/7"
    assert review.run_url({}) is None


# --- run() and the command line ------------------------------------------------------------------------------


def test_a_better_candidate_passes_and_nothing_is_registered(tmp_project: Path, cfg: config.Config) -> None:
    # Given evaluate's numbers: the candidate beats the champion
    write_reports(tmp_project, holdout(scores(cfg, 0.99), {"version": 1, **scores(cfg, 0.90)}))
    # When the review runs as a dry run
    gate = review.run(cfg)
    # Then the gate passes, the report is written and the registry was never created
    assert gate.promote and gate.source == "dry run"
    body = (tmp_project / "reports" / "review.md").read_text()
    assert body.startswith(review.marker(cfg.tracking.model_name))
    assert not (tmp_project / "mlflow.db").exists()


def test_a_worse_candidate_fails_the_command_after_writing_the_report(
    tmp_project: Path, cfg: config.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a candidate worse than the champion
    write_reports(tmp_project, holdout(scores(cfg, 0.50), {"version": 4, **scores(cfg, 0.90)}))
    summary = tmp_project / "summary.md"
    # When `python -m <package> review` runs
    code = cli.main(["review", "--summary", str(summary)])
    # Then it exits non-zero (the check fails) and the comment still explains why
    assert code == 1
    assert "fails the quality gate" in capsys.readouterr().err
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "fails the gate" in body and "FAIL:" in body
    assert "champion v4" in body
    assert "Model review" in summary.read_text() and "<!--" not in summary.read_text()


def test_registered_mode_reports_the_register_stage_decision_without_failing(
    tmp_project: Path, cfg: config.Config
) -> None:
    write_reports(tmp_project, holdout(scores(cfg, 0.50), {"version": 4, **scores(cfg, 0.90)}))
    registration = {"promoted": False, "reasons": ["FAIL: improvement"], "version": 5}
    (tmp_project / "reports" / "registration.json").write_text(json.dumps(registration))
    assert cli.main(["review", "--registered"]) == 0
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "Quality gate (registered)" in body and "was kept as challenger" in body


def test_without_metrics_the_command_says_what_to_run(tmp_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["review"]) == 1
    assert "make candidate" in capsys.readouterr().err


def test_params_are_diffed_against_the_base_ref(tmp_project: Path, cfg: config.Config) -> None:
    # Given params.yaml committed on a base branch, then changed in the work tree
    git(tmp_project, "init", "-q", "-b", "main")
    git(tmp_project, "add", "params.yaml")
    git(tmp_project, "commit", "-q", "-m", "base")
    params = yaml.safe_load((tmp_project / "params.yaml").read_text())
    params["train"]["cv_folds"] = 4
    (tmp_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_reports(tmp_project, holdout(scores(cfg, 0.99), None))
    # When the review compares with main
    review.run(config.load("params.yaml"), base="main")
    # Then the changed key is in the comment
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "| `train.cv_folds` | `3` | `4` |" in body


def test_an_unknown_base_ref_is_reported_not_fatal(tmp_project: Path, cfg: config.Config) -> None:
    git(tmp_project, "init", "-q", "-b", "main")
    write_reports(tmp_project, holdout(scores(cfg, 0.99), None), validation=None)
    review.run(cfg, base="no-such-branch")
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "Params diff unavailable: cannot read params.yaml at 'no-such-branch'" in body
    assert "No validation report" in body
