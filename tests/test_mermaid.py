"""The review comment's charts parse with Mermaid itself (npm `mermaid` 10.9, the line GitHub renders
`xychart-beta` with), for the real `make review` after a pipeline and for every chart kind with hostile labels."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .projects import TEMPLATE, run

pytestmark = pytest.mark.slow
BUILD = TEMPLATE / "build"
CHECKER = Path(__file__).with_name("mermaid_check.mjs")

# Every chart kind the renderer has, fed labels that try to end the string, the line and the code block.
ALL_CHARTS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from my_mlops_project.core.reports import ChampionScores, HoldoutMetrics
    from my_mlops_project.review import charts, facts

    hostile = ['"]) --> x', "```\\nend", "a\\nb", "<b>x</b> & [y](z)", "`tick`", "roc_auc"]
    champion = ChampionScores.model_validate({"version": 3, **{name: 0.9 - i / 1000 for i, name in enumerate(hostile)}})
    holdout = HoldoutMetrics(candidate={name: 0.9 + i / 1000 for i, name in enumerate(hostile)}, champion=champion,
                             baseline={}, holdout_rows=100)
    lineage = facts.Lineage(search_metric='"x"', trials=[(n, 0.5 + i / 100, False) for i, n in enumerate(hostile)])
    plots = Path(sys.argv[1])
    blocks = charts.metric_charts(holdout, "roc_auc") + charts.search_chart(lineage) + charts.curve_chart(plots, holdout)
    rows = [{"actual": i * 1.5, "predicted": i * 1.0, "residual": i * 0.5 - 3} for i in range(30)]
    (plots / "roc.json").unlink()
    (plots / "residuals.json").write_text(__import__("json").dumps(rows))
    blocks += charts.curve_chart(plots, holdout)
    print("\\n".join(blocks))
    """
)


@pytest.fixture(scope="module")
def checker() -> Path:
    if not (BUILD / "node_modules" / "mermaid" / "package.json").is_file():
        pytest.fail("mermaid is not installed in build/: run the tests through `make test` (it installs it from npm)")
    target = BUILD / CHECKER.name
    shutil.copy(CHECKER, target)
    return target


def parse(checker: Path, markdown: Path) -> dict[str, Any]:
    done = subprocess.run(["node", str(checker), str(markdown)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_checker_rejects_a_broken_chart(checker: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text('```mermaid\nxychart-beta\n    title "x"\n    x-axis ["a", "b"]\n    bar [1e-05, 2]\n```\n')
    done = subprocess.run(["node", str(checker), str(broken)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "INVALID" in done.stdout


def test_the_review_after_a_pipeline_has_valid_charts(default_project: Path, checker: Path) -> None:
    run(["make", "review"], default_project)
    found = parse(checker, default_project / "reports" / "review.md")
    assert found["blocks"] >= 2  # the ROC curve and the model search


def test_every_chart_kind_with_hostile_labels_is_valid(default_project: Path, checker: Path, tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "roc.json").write_text(json.dumps([{"fpr": f / 10, "tpr": min(1, f / 4)} for f in range(11)]))
    script = tmp_path / "charts.py"
    script.write_text(ALL_CHARTS)
    done = run([str(default_project / ".venv" / "bin" / "python"), str(script), str(plots)], default_project)
    charts = tmp_path / "charts.md"
    charts.write_text(done.stdout)
    assert parse(checker, charts) == {"blocks": 5, "invalid": 0}
