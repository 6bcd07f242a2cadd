"""Every file path is defined once, in params.yaml's `paths:` section: the config checks it, dvc.yaml and the stages
take it from there, and a missing input is one line naming the file (other FileNotFoundErrors stay bugs)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dvc.repo import Repo

from {{ cookiecutter.package_name }} import __main__ as cli
from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.stages import ingest

from .helpers import PATHS, PROJECT


@pytest.fixture
def params() -> dict:
    return yaml.safe_load((PROJECT / "params.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p["paths"].update(raww="data/raw/x.parquet"), "paths.raww: unknown key"),
        (lambda p: p["paths"].pop("holdout"), "paths.holdout: Field required"),
        (lambda p: p["paths"].update(metrics="/tmp/metrics.json"), "paths.metrics: '/tmp/metrics.json' must be a path"),
        (lambda p: p["paths"].update(train="../train.parquet"), "paths.train: '../train.parquet' must be a path"),
        (lambda p: p.pop("paths"), "paths: Field required"),
    ],
)
def test_a_paths_mistake_is_an_error_naming_the_key(params: dict, edit, expected: str) -> None:
    broken = copy.deepcopy(params)
    edit(broken)
    with pytest.raises(config.ConfigError) as error:
        config.parse(broken)
    assert expected in str(error.value)


def test_ingest_source_must_lie_under_paths_external(params: dict) -> None:
    params["paths"]["external"] = "inputs"
    params["paths"]["harvested"] = "inputs/harvested.parquet"  # it must lie under paths.external too
    params["ingest"]["source"] = "data/external/customers.csv"
    with pytest.raises(config.ConfigError, match=r"must be a relative path under inputs/ \(paths.external\)"):
        config.parse(params)
    params["ingest"]["source"] = "inputs/customers.csv"
    assert config.parse(params).ingest.source == "inputs/customers.csv"


def test_no_path_of_the_paths_section_is_written_out_elsewhere() -> None:
    """dvc.yaml and the package refer to the files by key, never by their value."""
    values = {str(v) for v in PATHS.model_dump().values()}
    dvc_yaml = (PROJECT / "dvc.yaml").read_text()
    assert not [v for v in values if v in dvc_yaml]
    sources = {p: p.read_text() for p in (PROJECT / "src").rglob("*.py")}
    repeated = [(p.name, v) for p, text in sources.items() for v in values if f'"{v}' in text]
    assert not repeated


def dvc_stages(root: Path) -> dict:
    """The pipeline as DVC itself reads it (dvc.yaml with params.yaml interpolated)."""
    with Repo(str(root)) as repo:
        return {
            stage.name: {
                "cmd": stage.cmd,
                "deps": [str(d.def_path) for d in stage.deps],
                "outs": [str(o.def_path) for o in stage.outs],
            }
            for stage in repo.index.stages
        }


def test_a_path_changed_in_params_flows_to_every_stage_that_uses_it(tmp_path: Path) -> None:
    # given the project's pipeline files in a DVC repository, with paths.raw and paths.metrics moved
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(PROJECT / name, tmp_path / name)
    Repo.init(str(tmp_path), no_scm=True).close()
    text = (tmp_path / "params.yaml").read_text()
    moved = text.replace(f"raw: {PATHS.raw}", "raw: data/bronze/table.parquet").replace(
        f"metrics: {PATHS.metrics}", "metrics: out/holdout.json"
    )
    assert moved != text
    (tmp_path / "params.yaml").write_text(moved)
    # when DVC reads the pipeline
    stages = dvc_stages(tmp_path)
    # then the stages write, read and are told the new paths
    assert stages["ingest"]["outs"] == ["data/bronze/table.parquet"]
    assert "--raw data/bronze/table.parquet" in stages["ingest"]["cmd"]
    for stage in ("validate", "prepare"):
        assert "data/bronze/table.parquet" in stages[stage]["deps"]
        assert "--raw data/bronze/table.parquet" in stages[stage]["cmd"]
    assert "out/holdout.json" in stages["evaluate"]["outs"]
    assert "out/holdout.json" in stages["register"]["deps"]
    assert "--metrics out/holdout.json" in stages["register"]["cmd"]
    assert not [s for s in stages.values() for p in s["deps"] + s["outs"] if str(PATHS.raw) in p]


def test_a_path_on_the_command_line_wins_over_params(tmp_project: Path) -> None:
    assert cli.main(["ingest", "--raw", "elsewhere/raw.parquet"]) == 0
    assert len(pd.read_parquet(tmp_project / "elsewhere" / "raw.parquet")) > 100
    assert not PATHS.raw.exists()


def test_a_stage_run_before_its_input_exists_names_the_file_and_the_stage(tmp_project: Path, capsys) -> None:
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {PATHS.train} (paths.train) not found: run `dvc repro prepare` first"


def test_validate_without_data_is_one_line(tmp_project: Path, capsys) -> None:
    assert cli.main(["validate", "--init"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {PATHS.raw} (paths.raw) not found: run `dvc repro ingest` first"


def test_a_missing_source_file_is_one_line(tmp_project: Path, capsys) -> None:
    (tmp_project / "data" / "external" / "customers.csv").unlink()
    assert cli.main(["ingest"]) == 1
    err = capsys.readouterr().err
    assert "data/external/customers.csv does not exist (ingest.source in params.yaml)" in err
    assert "Traceback" not in err


def test_an_internal_file_not_found_is_a_bug_with_its_traceback(tmp_project: Path, monkeypatch) -> None:
    def broken(cfg: config.Config) -> None:
        (tmp_project / "no" / "such.file").open()  # the bug under test

    monkeypatch.setattr(ingest, "run", broken)
    with pytest.raises(FileNotFoundError, match=r"such\.file"):
        cli.main(["ingest"])
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; sys.argv[1:] = ['--params', 'nowhere.yaml', 'ingest']; "
                f"from {cli.__package__}.__main__ import main; sys.exit(main())"
            ),
        ],
        cwd=tmp_project,
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2 and "nowhere.yaml not found" in process.stderr  # params.yaml: still one line
