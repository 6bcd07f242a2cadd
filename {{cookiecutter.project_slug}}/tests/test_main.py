"""The command line: one readable error line for a fixable problem, no traceback."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }} import __main__ as cli


def test_help_lists_the_pipeline_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("ingest", "validate", "prepare", "train", "evaluate", "register"):
        assert command in out


def test_a_typo_in_params_exits_2_with_the_key(tmp_path, capsys) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("task: classification\ningest: {source: 'sklearn:iris', target: target, drop_colums: []}\n")
    assert cli.main(["--params", str(params), "ingest"]) == 2
    err = capsys.readouterr().err
    assert "ingest.drop_colums: unknown key" in err
    assert "Traceback" not in err


def test_cuda_without_a_gpu_is_one_clear_line(tmp_project, capsys, monkeypatch) -> None:
    from {{ cookiecutter.package_name }}.training import models

    monkeypatch.setattr(models, "gpu_visible", lambda: False)
    text = (tmp_project / "params.yaml").read_text().replace("device: auto", "device: cuda")
    (tmp_project / "params.yaml").write_text(text)
    assert cli.main(["ingest"]) == cli.main(["prepare"]) == 0  # train's inputs, so the device is what fails
    assert cli.main(["train"]) == 1
    assert "no GPU is visible" in capsys.readouterr().err
