"""The service's docs page: no third-party scripts, a made-up example (never a training row), every status /predict
answers, a real version."""

from __future__ import annotations

import re

import httpx
import pandas as pd


def test_the_docs_page_loads_only_the_services_own_files(server) -> None:
    for path in ("/", "/docs"):
        page = httpx.get(f"{server.url}{path}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "googletagmanager" not in page.text
        loaded = re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text)
        assert loaded and all(url.startswith("./static_content/") for url in loaded), loaded
        for url in loaded:
            assert httpx.get(f"{server.url}/{url.removeprefix('./')}").status_code == 200


def test_the_spec_has_a_version_every_status_and_an_example_that_is_no_row_of_the_data(server, trained_project) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    assert re.fullmatch(r".+ v\d+ \(registry champion at start\)", spec["info"]["version"])
    assert "img.shields.io" not in spec["info"]["description"]
    operation = spec["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "503"} <= set(operation["responses"])
    (record,) = operation["requestBody"]["content"]["application/json"]["example"]["records"]
    assert set(record) == set(spec["components"]["schemas"]["Record"]["properties"])
    # made up from the schema alone: published to anyone who can reach the page, it must not be a row of the data
    data = pd.concat(
        [pd.read_parquet(trained_project / f"data/processed/{part}.parquet") for part in ("train", "test")]
    )
    rows = data[list(record)].astype(object).where(data[list(record)].notna(), None).to_dict("records")
    assert record not in rows
    assert set(record.values()) <= {0.0, None}


def test_the_example_is_accepted(server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]
    answer = httpx.post(f"{server.url}/predict", json=example, timeout=60)
    assert answer.status_code == 200 and len(answer.json()) == 1
