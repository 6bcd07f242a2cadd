"""Data Docs work offline: every page loads its CSS, fonts and scripts from the site itself, names its data."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.data import checks, data_docs
from {{ cookiecutter.package_name }}.stages import ingest, validate

from ..helpers import PATHS

GX_PAGE = """<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css" />
<style>.navbar-brand a { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png') }</style>
<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" integrity="sha384-x" crossorigin="anonymous"></script>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?dataContextId=abc" />
Data asset: None<br>
<a href="https://greatexpectations.io">a link is not a request</a>
"""


def test_a_gx_page_is_rewritten_to_local_assets() -> None:
    # given a page as GX writes it, two folders below the site root
    assert len(data_docs.remote_resources(GX_PAGE)) == 6
    # when it is rewritten
    page = data_docs.rewrite(GX_PAGE, "../../", asset_name="raw_data (data/raw/dataset.parquet)")
    # then it loads nothing from another host: vendored files, GX's own logo, no SRI hash for a re-served file
    assert data_docs.remote_resources(page) == []
    assert 'href="../../static/vendor/bootstrap/bootstrap.min.css"' in page
    assert 'src="../../static/vendor/popper/popper.min.js"></script>' in page
    assert 'src="../../static/vendor/vega/vega.min.js"' in page
    assert "bootstrap-dark" not in page and "integrity=" not in page
    assert "../../static/images/logo-long.png" in page and "dataContextId" not in page
    assert "Data asset:</span> raw_data (data/raw/dataset.parquet)" in page
    assert 'href="https://greatexpectations.io"' in page


def test_an_unknown_cdn_asset_is_reported_not_hidden() -> None:
    page = data_docs.rewrite('<script src="https://cdn.example.com/new.js"></script>', "./")
    assert data_docs.remote_resources(page) == ["https://cdn.example.com/new.js"]


def test_the_validate_stage_leaves_an_offline_site(tmp_project: Path, cfg) -> None:
    # given the data and its suite
    ingest.run(cfg)
    validate.init(cfg)
    # when validate runs
    summary = validate.run(cfg)
    # then every page of the site it points to loads only files that are in the site
    site = data_docs.site_dir(summary.data_docs)
    assert site is not None
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 3  # index, suite, validation result
    for page in pages:
        assert data_docs.remote_resources(page.read_text()) == [], page
    assert (site / "static/vendor/jquery/jquery.min.js").is_file()
    assert (site / "static/vendor/fontawesome/webfonts/fa-solid-900.woff2").is_file()
    (result,) = site.glob("validations/**/*.html")
    text = result.read_text()
    assert "Data asset:</span> raw_data (data/raw/dataset.parquet)" in text
    assert f"/{checks.data_version(PATHS.raw)}/" in result.as_posix()  # a readable run name, not __none__


def test_no_vendored_assets_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no vendored web assets"):
        data_docs.make_offline(tmp_path, tmp_path / "vendor/web")
