"""review: the pull-request comment body, and the exit code that fails the check when the gate fails."""

from __future__ import annotations

import html
import html.parser
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }} import __main__ as cli
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.core.gate import Gate, GateFailed
from {{ cookiecutter.package_name }}.core.reports import (
    AtThreshold,
    Candidate,
    ChampionScores,
    Failure,
    HoldoutMetrics,
    OnnxOutcome,
    Profile,
    Registration,
    Statistics,
    ThresholdReport,
    Validation,
)
from {{ cookiecutter.package_name }}.review import charts, facts, profiles, render, report
from {{ cookiecutter.package_name }}.stages import evaluate, train

from ..helpers import inside, write_params

CANDIDATE = {"roc_auc": 0.93, "accuracy": 0.9, "log_loss": 0.2}


def counts(evaluated: int, met: int) -> Statistics:
    return Statistics(
        evaluated_expectations=evaluated,
        successful_expectations=met,
        unsuccessful_expectations=evaluated - met,
        success_percent=100.0 * met / evaluated,
    )


def failure(name: str) -> Failure:
    """A failed expectation whose every text is ``name``."""
    return Failure(
        expectation=name,
        column=name,
        kwargs={},
        unexpected_count=None,
        element_count=None,
        unexpected_percent=None,
        examples=[],
        rows=[],
        observed=name,
        mismatched=None,
        error=None,
    )


VALIDATION = Validation(success=True, suite="raw_data", statistics=counts(12, 12), failures=[])


def write_reports(root: Path, holdout: HoldoutMetrics, validation: Validation | None = VALIDATION) -> None:
    holdout.save(root / "reports" / "metrics.json")
    if validation is not None:
        validation.save(root / "reports" / "validation.json")


def holdout(candidate: dict[str, float], champion: dict[str, Any] | None, rows: int = 100) -> HoldoutMetrics:
    """evaluate's report: ``champion`` as metrics.json keeps it (its version beside its metrics), or None."""
    found = ChampionScores.model_validate(champion) if champion is not None else None
    return HoldoutMetrics(candidate=candidate, champion=found, baseline={}, holdout_rows=rows)


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


def test_flatten_walks_dicts_and_lists_down_to_every_leaf() -> None:
    tree = {"train": {"seed": 1, "search": {"params": {"C": [0.1, 1]}, "empty": []}}, "task": "classification"}
    assert facts.flatten(tree) == {
        "train.seed": 1,
        "train.search.params.C[0]": 0.1,
        "train.search.params.C[1]": 1,
        "train.search.empty": [],
        "task": "classification",
    }


def test_params_diff_lists_changed_added_and_removed_keys() -> None:
    base = {"train": {"seed": 1, "cv_folds": 5}, "prepare": {"test_size": 0.2}}
    head = {"train": {"seed": 2, "cv_folds": 5, "device": "cuda"}}
    assert facts.params_diff(base, head) == [
        ("prepare.test_size", 0.2, facts.ABSENT),
        ("train.device", facts.ABSENT, "cuda"),
        ("train.seed", 1, 2),
    ]


def test_params_diff_is_empty_for_equal_params() -> None:
    params = {"train": {"search": {"candidates": [{"family": "ridge"}]}}}
    assert facts.params_diff(params, json.loads(json.dumps(params))) == []


def test_the_search_candidates_are_diffed_leaf_by_leaf_and_shown_whole() -> None:
    # Given the candidates list changed deep inside, a candidate added, and a long value
    candidates = [
        {"family": "logistic_regression", "params": {"C": [0.1, 1.0, 10.0]}},
        {"family": "hist_gradient_boosting", "params": {"learning_rate": [0.05, 0.1], "max_depth": [3, None]}},
    ]
    base = {"train": {"search": {"candidates": candidates}}, "ingest": {"source": "data/external/a.csv"}}
    head = json.loads(json.dumps(base))
    head["train"]["search"]["candidates"][1]["params"]["max_depth"][1] = 8
    head["train"]["search"]["candidates"].append({"family": "xgboost", "params": {"n_estimators": [300]}})
    head["ingest"]["source"] = "data/external/" + "x" * 200 + ".csv"
    # When the diff is rendered
    changes = facts.params_diff(base, head)
    table = "\n".join(render.params_section(changes, "main", None))
    # Then each changed leaf is a row with its full path, null is not "absent", and nothing is cut
    assert "| `train.search.candidates[1].params.max_depth[1]` | `null` | `8` |" in table
    assert '| `train.search.candidates[2].family` | `(absent)` | `"xgboost"` |' in table
    assert "| `train.search.candidates[2].params.n_estimators[0]` | `(absent)` | `300` |" in table
    assert "x" * 200 in table and "..." not in table
    assert "candidates[0]" not in table and "learning_rate" not in table  # unchanged leaves stay out


def test_a_long_params_diff_is_folded_but_complete() -> None:
    changes = [(f"train.k{i}", i, i + 1) for i in range(render.OPEN_ROWS + 5)]
    lines = render.params_section(changes, "main", None)
    assert lines[0].startswith("<details><summary>30 changed values") and lines[-1] == "</details>"
    assert sum(line.startswith("| `train.k") for line in lines) == len(changes)


def test_code_spans_survive_backticks_pipes_and_line_breaks() -> None:
    assert render.code("plain") == "`plain`"
    assert render.code("a`b") == "``a`b``"
    assert render.code("`x`") == "`` `x` ``"
    assert render.code("a|b", table=True) == "`a\\|b`"
    assert render.code("one\ntwo") == "`one⏎two`"
    assert render.code("") == '`""`'


def test_a_model_name_the_marker_cannot_carry_is_refused() -> None:
    with pytest.raises(config.UserError, match="cannot name the review comment"):
        render.marker("churn --><script>")


def test_the_marker_comes_first_and_names_the_model() -> None:
    # Given a passing dry-run gate
    gate = Gate(True, ("pass: floor",), "dry run")
    # When the report is rendered
    body = render.render(
        model_name="churn",
        gate=gate,
        gate_metric="roc_auc",
        holdout=holdout(CANDIDATE, None),
        validation=VALIDATION,
        changes=[],
        base="main",
    )
    # Then the workflow can find the comment by its first line, and the verdict is labelled advisory
    assert body.splitlines()[0] == "<!-- churn-model-review -->" == render.marker("churn")
    assert "would become champion" in body
    assert "no champion yet" in body
    assert "Advisory" in body


def test_the_metrics_table_compares_with_the_champion_in_the_metrics_direction() -> None:
    champion = {"version": 3, "roc_auc": 0.95, "accuracy": 0.85, "log_loss": 0.3}
    lines = render.metrics_section(holdout(CANDIDATE, champion), "roc_auc")
    table = "\n".join(lines)
    assert "| champion v3 |" in lines[0]
    assert "| **`roc_auc`** (gate) | 0.9300 | 0.9500 | -0.0200 worse |" in table
    assert "| `accuracy` | 0.9000 | 0.8500 | +0.0500 better |" in table
    assert "| `log_loss` | 0.2000 | 0.3000 | -0.1000 better |" in table  # lower loss is better
    assert "same holdout of 100 rows" in table


def test_the_tuned_threshold_is_shown_beside_one_half() -> None:
    at = AtThreshold(precision=0.5, recall=0.55, f1=0.5238)
    half = AtThreshold(precision=0.7, recall=0.31, f1=0.4297)
    rule = ThresholdReport(positive_class="Yes", threshold=0.2875, objective="f1", at_threshold=at, at_0_5=half)
    report = holdout(CANDIDATE, None).model_copy(update={"threshold": rule})
    text = "\n".join(render.metrics_section(report, "average_precision"))
    assert "Positive class `Yes`, threshold 0.2875 (tuned for `f1`): precision 0.5000, recall 0.5500" in text
    assert "at 0.5: 0.7000, 0.3100, 0.4297" in text
    assert "Positive class" not in "\n".join(render.metrics_section(holdout(CANDIDATE, None), "roc_auc"))


def test_a_champion_that_could_not_be_scored_is_explained() -> None:
    lines = render.metrics_section(holdout(CANDIDATE, {"version": 2, "error": "feature mismatch"}), "roc_auc")
    assert any("could not be scored on this holdout: `feature mismatch`" in line for line in lines)


def test_params_cells_escape_pipes_and_keep_long_values_whole() -> None:
    lines = render.params_section([("ingest.source", "a|b", "x" * 200)], "main", None)
    assert '`"a\\|b"`' in lines[2]
    assert f'`"{"x" * 200}"`' in lines[2]


def test_validation_failures_are_listed() -> None:
    missing = failure("expect_column_values_to_not_be_null").model_copy(update={"column": "age", "unexpected_count": 4})
    failed = Validation(success=False, suite="raw_data", statistics=counts(3, 2), failures=[missing])
    text = "\n".join(render.validation_section(failed))
    assert "FAILED: 2/3 expectations met" in text
    assert "| `expect_column_values_to_not_be_null` | `age` | `4` |" in text


def test_plots_link_to_the_workflow_artifact() -> None:
    lines = render.plots_section(["roc_curve.png"], "https://github.com/o/r/actions/runs/1/artifacts/2")
    assert lines == [
        (
            "The PNGs: [download the plots](https://github.com/o/r/actions/runs/1/artifacts/2) (workflow artifact): "
            "`roc_curve.png`."
        )
    ]


def test_run_url_comes_from_the_actions_environment() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    assert facts.run_url(env) == "https://github.com/o/r/actions/runs/7"
    assert facts.run_url({}) is None


def test_mlflow_links_only_for_http_servers_and_never_with_credentials() -> None:
    link = facts.mlflow_run_link("https://bot:s3cret@mlflow.example.com:8443/base/", "4", "abc")
    assert link == "https://mlflow.example.com:8443/base/#/experiments/4/runs/abc"
    assert facts.mlflow_run_link("sqlite:///mlflow.db", "4", "abc") is None


# --- Mermaid charts ------------------------------------------------------------------------------------------

NUMBER = r"-?\d+(?:\.\d+)?"
CHART_LINE = {
    "title": re.compile(r'^    title "[A-Za-z0-9 _.,:=()+-]*"$'),
    "x-categories": re.compile(r'^    x-axis \[("[A-Za-z0-9 _.,:=()+-]+")(, "[A-Za-z0-9 _.,:=()+-]+")*\]$'),
    "x-range": re.compile(rf'^    x-axis "[A-Za-z0-9 _.,:=()+-]*" ({NUMBER}) --> ({NUMBER})$'),
    "y-range": re.compile(rf'^    y-axis "[A-Za-z0-9 _.,:=()+-]*" ({NUMBER}) --> ({NUMBER})$'),
    "series": re.compile(rf"^    (bar|line) \[({NUMBER}(?:, {NUMBER})*)\]$"),
}


def mermaid_blocks(body: str) -> list[list[str]]:
    blocks = re.findall(r"^```mermaid\n(.*?)\n```$", body, flags=re.DOTALL | re.MULTILINE)
    return [block.split("\n") for block in blocks]


def assert_valid_xychart(lines: list[str]) -> None:
    """The xychart-beta grammar of Mermaid 10.5+ (what GitHub renders), line by line, and data that fits it."""
    assert lines[0] in ("xychart-beta", "xychart-beta horizontal")
    assert CHART_LINE["title"].match(lines[1]), lines[1]
    categories = CHART_LINE["x-categories"].match(lines[2])
    assert categories or CHART_LINE["x-range"].match(lines[2]), lines[2]
    y_axis = CHART_LINE["y-range"].match(lines[3])
    assert y_axis, lines[3]
    low, high = float(y_axis.group(1)), float(y_axis.group(2))
    assert low < high
    series = [CHART_LINE["series"].match(line) for line in lines[4:]]
    assert series and all(series), lines[4:]
    for found in filter(None, series):
        values = [float(v) for v in found.group(2).split(", ")]
        assert all(low <= v <= high for v in values), (values, low, high)
        if categories:
            assert len(values) == lines[2].count('", "') + 1
        else:
            assert len(values) == charts.CURVE_POINTS


def test_the_metric_charts_compare_candidate_and_champion_on_a_scale_that_shows_the_difference() -> None:
    champion = {"version": 3, "roc_auc": 0.991, "accuracy": 0.95, "log_loss": 0.12}
    candidate = {"roc_auc": 0.996, "accuracy": 0.96, "log_loss": 0.10}
    blocks = mermaid_blocks("\n".join(charts.metric_charts(holdout(candidate, champion), "roc_auc")))
    assert len(blocks) == 2
    for block in blocks:
        assert_valid_xychart(block)
    gate_chart, change_chart = blocks
    assert gate_chart[2] == '    x-axis ["champion v3", "candidate"]' and gate_chart[4] == "    bar [0.991, 0.996]"
    low, high = (float(v) for v in re.findall(NUMBER, gate_chart[3].split('"')[-1]))
    assert low > 0.98 and high < 1.01  # not 0..1: 0.991 and 0.996 must not look equal
    assert change_chart[4] == "    bar [0.005, 0.01, 0.02]"  # the log_loss drop counts as better (positive)
    assert charts.metric_charts(holdout(candidate, None), "roc_auc") == []


def test_the_roc_chart_samples_the_staircase_exactly() -> None:
    rows: list[dict[str, Any]] = [
        {"fpr": 0, "tpr": 0},
        {"fpr": 0, "tpr": 0.5},
        {"fpr": 0.5, "tpr": 0.5},
        {"fpr": 0.5, "tpr": 1},
        {"fpr": 1, "tpr": 1},
    ]
    points = charts.roc_points(rows)
    assert len(points) == charts.CURVE_POINTS
    assert points[0] == 0.5 and points[9] == 0.5 and points[10] == 1.0 and points[-1] == 1.0


def test_the_curve_chart_is_the_roc_for_classification_and_residual_bins_for_regression(tmp_path: Path) -> None:
    rows = [{"fpr": f / 10, "tpr": min(1.0, f / 5)} for f in range(11)]
    (tmp_path / "roc.json").write_text(json.dumps(rows))
    roc = mermaid_blocks("\n".join(charts.curve_chart(tmp_path, holdout({"roc_auc": 0.9954}, None))))
    assert len(roc) == 1
    assert_valid_xychart(roc[0])
    assert "AUC 0.9954" in roc[0][1]  # four decimals, not a rounded 1.00
    (tmp_path / "roc.json").unlink()
    residuals = [{"actual": i + (-1) ** i, "predicted": float(i), "residual": float((-1) ** i)} for i in range(40)]
    (tmp_path / "residuals.json").write_text(json.dumps(residuals))
    bins = mermaid_blocks("\n".join(charts.curve_chart(tmp_path, holdout({"r2": 0.5}, None))))
    assert len(bins) == 1
    assert_valid_xychart(bins[0])
    assert bins[0][4] == "    bar [" + ", ".join(["0"] * charts.RESIDUAL_BINS) + "]"
    assert charts.curve_chart(tmp_path / "missing", holdout({"r2": 0.5}, None)) == []


def test_the_confusion_matrix_counts_each_pair(tmp_path: Path) -> None:
    pairs = [("no", "no")] * 5 + [("no", "yes")] * 2 + [("yes", "yes")] * 3
    (tmp_path / "confusion.json").write_text(json.dumps([{"actual": a, "predicted": p} for a, p in pairs]))
    assert render.confusion_table(tmp_path) == [
        "| actual ↓ predicted → | `no` | `yes` |",
        "|---|---:|---:|",
        "| `no` | 5 | 2 |",
        "| `yes` | 0 | 3 |",
    ]
    assert render.confusion_table(tmp_path / "missing") == []


def test_the_search_chart_lists_every_scored_trial() -> None:
    lineage = facts.Lineage(
        search_metric="roc_auc",
        trials=[("lr(C=0.1)", 0.991, False), ("hgb(max_depth=3)", 0.996, True), ("broken", float("nan"), False)],
    )
    blocks = mermaid_blocks("\n".join(charts.search_chart(lineage)))
    assert len(blocks) == 1
    assert_valid_xychart(blocks[0])
    assert blocks[0][0] == "xychart-beta horizontal"
    assert blocks[0][2] == '    x-axis ["lr(C=0.1)", "hgb(max_depth=3)"]'


# --- untrusted text never becomes markup ---------------------------------------------------------------------

HOSTILE = [
    "`](https://evil.example/x)`",
    "[click](https://evil.example/phish)",
    '<a href="https://evil.example">evil</a>',
    "<img src=https://evil.example/t.png>",
    "<script>alert(1)</script>",
    "@evil-user please merge",
    "line one\n# evil heading\n- evil item",
    "![evil](https://evil.example/pixel.png)",
    "| evil | cell |",
    "www.evil.example and https://evil.example",
    "``` \n```mermaid\nevil",
]


class Rendered(html.parser.HTMLParser):
    """Tags and attributes of the rendered comment, and the text that is not inside code."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.depth = 0
        self.prose: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.depth += tag in ("code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag in ("code", "pre")

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.prose.append(data)


def test_untrusted_text_in_the_comment_never_becomes_markup(tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    # Given params, metric names, trial names, expectations and a family that all carry markdown and HTML
    base = {"train": dict.fromkeys(HOSTILE, "safe")}
    head = {"train": dict(zip(HOSTILE, reversed(HOSTILE), strict=True))}
    metric = "roc_auc"
    candidate = {metric: 0.99, **dict.fromkeys(HOSTILE, 0.5)}
    champion = {"version": 1, metric: 0.98, **dict.fromkeys(HOSTILE, 0.4)}
    validation = Validation(
        success=False, suite=HOSTILE[2], statistics=counts(3, 2), failures=[failure(name) for name in HOSTILE]
    )
    lineage = facts.Lineage(
        family=HOSTILE[1],
        hyperparameters={name: name for name in HOSTILE},
        run_id=HOSTILE[5],
        commit=HOSTILE[0],
        data={HOSTILE[3]: HOSTILE[4]},
        trials=[(name, 0.9 + i / 100, False) for i, name in enumerate(HOSTILE)],
        search_metric=HOSTILE[6],
    )
    pairs = [{"actual": a, "predicted": b} for a, b in zip(HOSTILE, reversed(HOSTILE), strict=True)]
    (tmp_path / "confusion.json").write_text(json.dumps(pairs))  # class labels come from the data
    # When the comment is rendered and then read by a GitHub-like markdown renderer (HTML on, autolinks on)
    body = render.render(
        model_name="churn",
        gate=Gate(False, tuple(HOSTILE), "dry run"),
        gate_metric=metric,
        holdout=holdout(candidate, champion),
        validation=validation,
        changes=facts.params_diff(base, head),
        base=HOSTILE[7],
        params_problem=None,
        figures=HOSTILE,
        lineage=lineage,
        plots=tmp_path,
    )
    page = Rendered()
    page.feed(MarkdownIt("gfm-like").render(body))
    # Then no link, image or HTML from the pull request: only the report's own structure
    allowed = {"h2", "h3", "p", "ul", "li", "em", "strong", "code", "pre", "table", "thead", "tbody", "tr", "th", "td"}
    assert {tag for tag, _ in page.tags} <= allowed
    prose = "".join(page.prose)
    assert "evil" not in prose and "@" not in prose and "<" not in prose
    # and each hostile text is still shown, literally, in a code span or a sanitised chart label
    code_texts = "".join(re.findall(r"<code[^>]*>(.*?)</code>", MarkdownIt("gfm-like").render(body), flags=re.DOTALL))
    for name in HOSTILE:
        assert name.split("\n")[0] in html.unescape(code_texts)
    for block in mermaid_blocks(body):
        assert_valid_xychart(block)


# --- run() and the command line ------------------------------------------------------------------------------


def test_a_better_candidate_passes_and_nothing_is_registered(tmp_project: Path, cfg: config.Config) -> None:
    # Given evaluate's numbers: the candidate beats the champion
    write_reports(tmp_project, holdout(scores(cfg, 0.99), {"version": 1, **scores(cfg, 0.90)}))
    # When the review runs as a dry run
    gate = report.run(cfg)
    # Then the gate passes, the report is written and the registry was never created
    assert gate.promote and gate.source == "dry run"
    body = (tmp_project / "reports" / "review.md").read_text()
    assert body.startswith(render.marker(cfg.tracking.model_name))
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
    registration = Registration(
        model_name=cfg.tracking.model_name,
        version=5,
        promoted=False,
        checks=[],
        reasons=["FAIL: improvement"],
        schema_change=None,
        champion_before=4,
        champion_after=4,
        onnx=OnnxOutcome(parity="held", reason=None),
    )
    registration.save(tmp_project / "reports" / "registration.json")
    assert cli.main(["review", "--registered"]) == 0
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "Quality gate (registered)" in body and "was kept as challenger" in body


def measured(runtime: str, p99: float, rss: float) -> Profile:
    return Profile(
        runtime=runtime,
        latency_p50_ms=p99 / 2,
        latency_p99_ms=p99,
        rows_per_s=123456.0,
        size_mb=0.5,
        load_s=0.02,
        rss_mb=rss,
        features=7,
    )


def test_the_registered_review_shows_the_candidates_profile_beside_the_champions(
    tmp_project: Path, cfg: config.Config
) -> None:
    # Given the register stage's report with both profiles
    write_reports(tmp_project, holdout(scores(cfg, 0.95), {"version": 4, **scores(cfg, 0.90)}))
    Registration(
        model_name=cfg.tracking.model_name,
        version=5,
        promoted=False,
        checks=[],
        reasons=["FAIL: p99 latency 2.4 ms (scikit-learn) is 12.0x champion v4's 0.2 ms (onnxruntime)"],
        schema_change=None,
        champion_before=4,
        champion_after=4,
        onnx=OnnxOutcome(parity="failed", reason="parity failed"),
        profile=measured("scikit-learn", 2.4, 412.0),
        champion_profile=measured("onnxruntime", 0.2, 151.0),
    ).save(tmp_project / "reports" / "registration.json")
    # When the review reports it
    assert cli.main(["review", "--registered"]) == 0
    body = (tmp_project / "reports" / "review.md").read_text()
    # Then one table holds both, side by side
    assert "### Profile: candidate vs champion" in body
    assert "| | candidate | champion v4 |" in body
    assert "| runtime | `scikit-learn` | `onnxruntime` |" in body
    assert "| single-row latency p99, ms (CPU time) | 2.4 | 0.2 |" in body
    assert "| peak RSS after load, MiB | 412 | 151 |" in body
    assert "| holdout rows/s (one core) | 123,456 | 123,456 |" in body


def test_a_champion_without_a_profile_is_said_so() -> None:
    lines = render.profile_section(profiles.Profiles(measured("onnxruntime", 0.3, 150.0), None, 2))
    assert "| single-row latency p99, ms (CPU time) | 0.3 | - |" in lines
    assert lines[-1] == "Champion v2 was registered before profiling: it has no profile."


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
    report.run(config.load("params.yaml"), base="main")
    # Then the changed key is in the comment
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "| `train.cv_folds` | `3` | `4` |" in body


def test_an_unknown_base_ref_is_reported_not_fatal(tmp_project: Path, cfg: config.Config) -> None:
    git(tmp_project, "init", "-q", "-b", "main")
    write_reports(tmp_project, holdout(scores(cfg, 0.99), None), validation=None)
    report.run(cfg, base="no-such-branch")
    body = (tmp_project / "reports" / "review.md").read_text()
    assert "Params diff unavailable: `cannot read params.yaml at 'no-such-branch'" in body
    assert "No validation report" in body


# --- against a real registry (the pipeline run once) ---------------------------------------------------------


@pytest.fixture
def trained_copy(trained_project: Path, tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the trained project (its MLflow artifacts stay where the original logged them)."""
    copy = tmp_path / "project"
    shutil.copytree(trained_project, copy)
    with inside(copy):
        yield copy


@pytest.mark.slow
def test_after_the_pipeline_the_review_says_the_candidate_is_already_champion(trained_copy: Path) -> None:
    # Given `make pipeline` ran: evaluate saw no champion, then register promoted this very candidate
    cfg = config.load("params.yaml")
    assert json.loads((trained_copy / "reports" / "metrics.json").read_text())["champion"] is None
    # When `make review` runs afterwards
    gate = report.run(cfg, base=None)
    # Then it compares with the champion as it is now: the candidate itself
    body = (trained_copy / "reports" / "review.md").read_text()
    assert gate.promote and gate.source == "already champion"
    assert "is already the champion (v1)" in body and "would become champion" not in body
    # and it names the winner, its run, commit and data version, and charts the search
    candidate = Candidate.load(trained_copy / "models" / "candidate.json")
    assert f"- winning family: `{candidate.family}`" in body
    assert f"- MLflow run: `{candidate.run_id}`" in body
    assert "- commit: `" in body and "- data: `data/processed/train.parquet` md5 `" in body
    blocks = mermaid_blocks(body)
    assert blocks
    for block in blocks:
        assert_valid_xychart(block)
    assert sum(block[0] == "xychart-beta horizontal" for block in blocks) == 1  # the search's trials


@pytest.mark.slow
def test_a_champion_that_moved_since_evaluate_is_scored_again(trained_copy: Path) -> None:
    # Given evaluate's numbers for another candidate, made when there was no champion yet
    cfg = config.load("params.yaml")
    another = Candidate.load(trained_copy / "models" / "candidate.json").model_copy(
        update={"run_id": "0" * 32, "family": "ridge", "params": {}, "model_uri": "models:/m-not-registered"}
    )
    another.save(trained_copy / "models" / "candidate.json")
    write_reports(trained_copy, holdout(scores(cfg, 0.99), None))
    # When the review runs now that the registry has champion v1
    report.run(cfg)
    # Then v1 was scored on the holdout and the table compares with it
    body = (trained_copy / "reports" / "review.md").read_text()
    assert "A champion (v1) appeared since evaluate ran" in body
    assert "| champion v1 |" in body and "no champion yet" not in body


@pytest.mark.slow
def test_a_dry_run_profiles_the_candidate_and_holds_it_to_the_budgets(trained_copy: Path) -> None:
    # Given a new candidate trained and evaluated against champion v1, and a latency budget nothing can meet
    params = yaml.safe_load((trained_copy / "params.yaml").read_text())
    params["train"]["search"]["candidates"] = [{"family": "hist_gradient_boosting", "params": {"max_depth": [2]}}]
    params["register"]["max_latency_ms"] = 1e-6
    cfg = write_params(trained_copy, params)
    train.run(cfg)
    evaluate.run(cfg)
    # When the review runs as a dry run
    with pytest.raises(GateFailed, match=r"register\.max_latency_ms"):
        report.run(cfg)
    # Then the candidate was profiled now, in the runtime it would be served by, beside the champion's tags
    body = (trained_copy / "reports" / "review.md").read_text()
    assert "| | candidate | champion v1 |" in body
    assert "| runtime | `onnxruntime` | `onnxruntime` |" in body
    assert "FAIL: p99 latency " in body and "> register.max_latency_ms 1e-06 (onnxruntime)" in body
