"""notebooks/: every notebook runs top to bottom on a trained project, twice over its set-up cell, with no warning.

Executed with nbclient on the project's own Python (ipykernel), so a change in the package or in MLflow that
breaks a notebook fails here instead of in a user's hands.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .helpers import PROJECT, inside

pytestmark = pytest.mark.slow
NOTEBOOK = PROJECT / "notebooks" / "explore.ipynb"
# Run after the notebook, in its kernel: what a reader of the tables and the prediction relies on.
CHECKS = """
assert Path.cwd() == ROOT and (ROOT / "params.yaml").is_file()
assert parents["run_id"].size >= 1 and not parents["run_id"].isin(children["run_id"]).any()
assert set(children["tags.mlflow.parentRunId"]) <= set(parents["run_id"]), "a child run without its parent"
assert len(trials) >= 2 and trials["tags.mlflow.parentRunId"].isin(latest).all()
assert champion.version is not None and "champion" in champion.aliases
assert prediction["predicted"] is not None
"""


def read(path: Path) -> nbformat.NotebookNode:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nbformat's MissingIDFieldWarning and friends fail the test
        notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


@pytest.fixture
def project_dir(trained_project: Path) -> Iterator[Path]:
    with inside(trained_project):
        yield trained_project


def test_every_cell_has_an_id_and_the_notebook_is_valid() -> None:
    notebook = read(NOTEBOOK)
    ids = [cell["id"] for cell in notebook.cells]
    assert len(set(ids)) == len(ids) == len(notebook.cells)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "committed outputs"


def test_the_notebook_runs_twice_over_its_set_up_cell_without_warnings(project_dir: Path) -> None:
    # Given the notebook with its set-up cell run twice (as a user re-running it would), then the checks
    notebook = read(NOTEBOOK)
    setup = next(cell for cell in notebook.cells if cell.get("id") == "setup")
    again = copy.deepcopy(setup)
    again["id"] = "setup-again"
    notebook.cells.insert(notebook.cells.index(setup) + 1, again)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS, id="checks"))
    # When it runs in a kernel started in notebooks/ (as Jupyter starts it)
    workdir = project_dir / "notebooks"
    workdir.mkdir(exist_ok=True)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    # Then every cell ran, and nothing wrote to stderr (no warning of any kind)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    errors = [o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert errors == []
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code")
    shown = {cell.get("id"): cell.outputs for cell in notebook.cells if cell.cell_type == "code"}
    assert "champion" in shown["champion"][0]["data"]["text/plain"]
    assert "predicted" in shown["predict"][0]["data"]["text/plain"]
