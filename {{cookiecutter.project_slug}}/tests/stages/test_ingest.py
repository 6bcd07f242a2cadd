"""ingest reads a bundled scikit-learn dataset or a file under data/external/."""

from __future__ import annotations

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core import config
from {{ cookiecutter.package_name }}.stages import ingest

from ..helpers import PATHS, PROJECT, write_params


def test_the_default_source_needs_no_download(tmp_project, cfg) -> None:
    shipped = config.load(PROJECT / "params.yaml")
    frame = ingest.run(shipped)
    assert shipped.ingest.target in frame.columns
    assert len(pd.read_parquet(PATHS.raw)) == len(frame) > 100


def test_a_csv_keeps_every_column_text_and_missing_values(tmp_project, cfg) -> None:
    frame = ingest.run(cfg)
    assert "customer_id" in cfg.ingest.drop_columns and "customer_id" in frame.columns, "dropped later, not here"
    assert frame["region"].isna().any()
    assert pd.read_parquet(PATHS.raw)["plan"].tolist() == frame["plan"].tolist()


def test_an_unknown_target_names_the_columns(tmp_project, cfg) -> None:
    params = cfg.model_dump(by_alias=True, mode="json")
    params["ingest"]["target"] = "revenue"
    with pytest.raises(config.UserError, match=r"target column 'revenue' \(ingest.target\) is not in"):
        ingest.run(write_params(tmp_project, params))


def test_dropping_an_unknown_column_is_an_error(tmp_project, cfg) -> None:
    params = cfg.model_dump(by_alias=True, mode="json")
    params["ingest"]["drop_columns"] = ["nope"]
    with pytest.raises(config.UserError, match="nope"):
        ingest.run(write_params(tmp_project, params))


def test_a_semicolon_file_gets_a_delimiter_hint(tmp_project, cfg) -> None:
    path = tmp_project / "data" / "external" / "customers.csv"
    pd.read_csv(path).to_csv(path, sep=";", index=False)
    with pytest.raises(config.UserError, match=r"parses into one column .* looks semicolon-separated"):
        ingest.run(cfg)
    params = cfg.model_dump(by_alias=True, mode="json")
    params["ingest"]["delimiter"] = ";"
    assert len(ingest.run(write_params(tmp_project, params))) > 100


def test_a_missing_file_is_a_user_error(tmp_project, cfg) -> None:
    (tmp_project / "data" / "external" / "customers.csv").unlink()
    with pytest.raises(config.UserError, match="does not exist"):
        ingest.run(cfg)
