"""Your own data to a served champion, by the generated README's commands alone, for both tasks; and ten kinds of
bad data that must stop the pipeline before training with a message naming the column, bound or value.

One default project is baked, set up and run on its sample once (module fixture); the user's CSV is
tests/data/penguins.csv (made by tests/data/make_penguins.py: 300 rows, text columns, `NA` for missing values, a
3-class text target `species` and a numeric `body_mass_g`). Tests run in file order: classification, the bad data
(each case restored with `make restore`), then regression on the same file.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .projects import bake, free_port, post, project_env, registry, run, serving, setup_project, short_auto_search

pytestmark = pytest.mark.slow
PENGUINS = Path(__file__).parent / "data" / "penguins.csv"
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year", "species"]
ROW = {
    "island": "Dream", "bill_length_mm": 39.3, "bill_depth_mm": 18.2, "flipper_length_mm": 197,
    "body_mass_g": 3550, "sex": None, "year": 2008, "species": "Adelie",
}  # fmt: skip


def readme_commands(project: Path) -> str:
    """The generated README's "Bring your own data" section: the tests below type only what it shows."""
    text = (project / "README.md").read_text()
    return text[text.index("## Bring your own data") : text.index("## Layout")]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Baked with the default answers, set up, the sample pipeline run, then the user's CSV brought as the README says."""
    root = tmp_path_factory.mktemp("own-data")
    project = setup_project(bake(root))
    run(["make", "pipeline"], project)
    downloads = root / "Downloads"
    downloads.mkdir()
    shutil.copy(PENGUINS, downloads / "penguins.csv")
    section = readme_commands(project)
    assert "make data FILE=~/Downloads/penguins.csv TARGET=species" in section
    run(["make", "data", f"FILE={downloads / 'penguins.csv'}", "TARGET=species"], project)
    short_auto_search(project)
    run(["make", "pipeline"], project)
    return project


def serve_and_predict(project: Path, tmp_path: Path, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start the real `make serve` on a free loopback port; the request schema and one answer for ``row``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = project_env(project) | {"SERVING_DB_URL": f"sqlite:///{tmp_path / 'serving.db'}"}
    with serving(["make", "serve", f"PORT={port}"], project, f"{url}/readyz", log, env=env, stop=signal.SIGINT):
        with urllib.request.urlopen(f"{url}/docs.json", timeout=30) as response:
            spec = json.loads(response.read())
        status, answers = post(f"{url}/predict", json.dumps({"records": [row]}).encode())
        assert status == 200, answers
    return spec["components"]["schemas"]["Record"], answers[0]


def batch_rows(project: Path, tmp_path: Path) -> dict[str, Any]:
    env = project_env(project) | {"SERVING_DB_URL": f"sqlite:///{tmp_path / 'batch.db'}"}
    done = run(["make", "batch", "INPUT=data/external/penguins.csv"], project, env=env)
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_your_csv_becomes_the_served_and_batch_scored_champion(project: Path, tmp_path: Path) -> None:
    registration = json.loads((project / "reports" / "registration.json").read_text())
    assert registration["promoted"] is True and registration["champion_after"] == 2
    assert "column(s) added: island" in registration["schema_change"] and "classes" in registration["schema_change"]
    assert any(r.startswith("pass: schema changed vs champion v1") for r in registration["reasons"])
    record, answer = serve_and_predict(project, tmp_path, {k: v for k, v in ROW.items() if k != "species"})
    assert set(record["properties"]) == set(COLUMNS) - {"species"}, "the request schema is the user's columns"
    assert answer["model_version"] == "2" and answer["prediction"] in ("Adelie", "Chinstrap", "Gentoo")
    assert set(answer["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    scored = batch_rows(project, tmp_path)
    assert scored["rows"] == scored["written"] == len(read_rows(PENGUINS)) and scored["model_version"] == "2"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def bad_file(case: str, path: Path) -> None:
    rows = read_rows(PENGUINS)  # the text exactly as in the file
    if case == "text in a numeric column":
        for row in rows[4::20]:
            row["bill_length_mm"] = "forty"
    elif case == "a column removed":
        for row in rows:
            del row["flipper_length_mm"]
    elif case == "a column all empty":
        for row in rows:
            row["bill_depth_mm"] = ""
    elif case == "an unseen category in 30% of rows":
        for row in rows[: int(len(rows) * 0.3)]:
            row["island"] = "Atlantis"
    elif case == "out-of-range values":
        for row in rows[2::50]:
            row["flipper_length_mm"] = "999"
    elif case == "a truncated file":
        rows = rows[:40]
    elif case == "the target all missing":
        for row in rows:
            row["species"] = "NA"
    elif case == "every row duplicated":
        rows = [dict(row) for _ in range(10) for row in rows]
    elif case == "an extra column":
        for row in rows:
            row["comment"] = "note"
    with path.open("w", newline="") as stream:
        delimiter = ";" if case == "a ;-delimited file" else ","
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


CASES = {
    # make data stops first: the column's role (numeric, in params.yaml) no longer fits its values
    "text in a numeric column": "prepare.roles: 'bill_length_mm' is numeric in params.yaml but holds text, e.g. 'forty' in row 5",
    "a column removed": "table: missing column(s) 'flipper_length_mm'",
    "a column all empty": "column 'bill_depth_mm': 300 of 300 rows (100.0%) are missing (allowed: up to",
    "an unseen category in 30% of rows": "column 'island': 90 of 300 rows (30.0%) not in the suite's value set, e.g. 'Atlantis' (row 1)",
    "out-of-range values": "column 'flipper_length_mm': 6 of 300 rows (2.0%) outside the bound between 158.0 and 246.0, e.g. 999 (row 3)",
    "a truncated file": "table: 40 rows, the suite expects between 150 and 3000",
    "the target all missing": "column 'species': 300 of 300 rows (100.0%) are missing",
    "a ;-delimited file": "it looks semicolon-separated (';'), not separated by ','. Set ingest.delimiter: ';'",
    "every row duplicated": "table: 3000 of 3000 rows (100.0%) are exact duplicates of another row (allowed: up to 2.0%)",
    "an extra column": "table: extra column(s) 'comment' not in the suite",
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_stops_before_training_naming_what_is_wrong(project: Path, tmp_path: Path, case: str) -> None:
    before = registry(project)
    bad = tmp_path / "penguins.csv"  # a new version of the same file: checked against the reviewed suite
    bad_file(case, bad)
    try:
        done = run(["make", "data", f"FILE={bad}", "TARGET=species"], project, check=False)
        if done.returncode == 0:
            done = run(["make", "pipeline"], project, check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output[-3000:]
        assert CASES[case] in output, output[-3000:]
        assert "Traceback" not in output
        assert "Running stage 'train'" not in output
        assert registry(project) == before, "the champion is unchanged"
    finally:
        run(["make", "restore"], project)
    assert (project / "data" / "external" / "penguins.csv").read_bytes() == PENGUINS.read_bytes(), "restored"


def test_regression_on_the_same_file_is_one_command(project: Path, tmp_path: Path) -> None:
    section = readme_commands(project)
    command = re.search(r"make data FILE=(\S+) TARGET=(\S+) TASK=regression", section)
    assert command, "the README shows the regression command"
    run(["make", "data", f"FILE={command[1]}", f"TARGET={command[2]}", "TASK=regression"], project)
    short_auto_search(project)
    run(["make", "pipeline"], project)
    registration = json.loads((project / "reports" / "registration.json").read_text())
    assert registration["promoted"] is True
    assert registration["schema_change"].startswith("task classification -> regression")
    state = registry(project)
    assert state["champion"] == registration["version"] == max(state["versions"])
    record, answer = serve_and_predict(project, tmp_path, {k: v for k, v in ROW.items() if k != "body_mass_g"})
    assert set(record["properties"]) == set(COLUMNS) - {"body_mass_g"}
    assert isinstance(answer["prediction"], float) and answer["probabilities"] is None
    scored = batch_rows(project, tmp_path)
    assert scored["rows"] == scored["written"] == len(read_rows(PENGUINS))
