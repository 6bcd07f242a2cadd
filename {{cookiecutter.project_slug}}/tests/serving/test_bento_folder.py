"""The champion read from the BentoML store's folder (serving/bento_folder.py) is what BentoML itself answers, and
anything unexpected in the store answers None (the batch job then asks BentoML)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving import bento_folder, load
from {{ cookiecutter.package_name }}.serving.model import MLFLOW_FOLDER, ONNX_FOLDER


def test_the_folder_answers_what_bentoml_answers(champion, bentoml_home: Path) -> None:
    # given the champion imported into the store by BentoML (the champion fixture)
    name, version = champion.tag.name, champion.tag.version
    # when it is read from the store's folder
    found = bento_folder.latest(name, version)
    # then it is the same model: tag, metadata, files, and the model load makes of it
    assert found is not None
    assert found.tag == str(champion.tag)
    assert found.info.metadata == champion.info.metadata
    for item in (MLFLOW_FOLDER, ONNX_FOLDER):
        assert Path(found.path_of(item)) == Path(champion.path_of(item))
    served, reference = load(found), load(champion)
    assert (served.name, served.version, served.schema) == (reference.name, reference.version, reference.schema)
    assert served.runtime_name == reference.runtime_name


def test_a_version_not_the_latest_or_a_store_it_cannot_read_answers_none(
    champion, bentoml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a copy of the store holding the champion
    home = tmp_path / "home"
    shutil.copytree(bentoml_home / "models", home / "models")
    monkeypatch.setenv("BENTOML_HOME", str(home))
    name, version = champion.tag.name, champion.tag.version
    folder = home / "models" / name
    assert bento_folder.latest(name, version) is not None
    # then another model, another version, a version that is no longer the latest, and a broken model.yaml: None
    assert bento_folder.latest("another-model", version) is None
    assert bento_folder.latest(name, "v999") is None
    (folder / "latest").write_text("v999")
    assert bento_folder.latest(name, version) is None
    (folder / "latest").write_text(version)
    (folder / version / "model.yaml").write_text("name: [unclosed")
    assert bento_folder.latest(name, version) is None
    (folder / version / "model.yaml").write_text(f"name: {name}\nversion: {version}\n")  # no metadata
    assert bento_folder.latest(name, version) is None
