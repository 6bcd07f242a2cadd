"""The service's docs page: no third-party scripts, a real example, every status /predict answers, a real version."""

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


def test_the_spec_has_a_version_every_status_and_a_training_row_as_example(server, trained_project) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    assert re.fullmatch(r".+ v\d+ \(registry champion at start\)", spec["info"]["version"])
    assert "img.shields.io" not in spec["info"]["description"]
    operation = spec["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "503"} <= set(operation["responses"])
    (record,) = operation["requestBody"]["content"]["application/json"]["example"]["records"]
    train = pd.read_parquet(trained_project / "data/processed/train.parquet")
    assert set(record) == set(spec["components"]["schemas"]["Record"]["properties"])
    rows = train[list(record)].astype(object).where(train[list(record)].notna(), None).to_dict("records")
    assert record in rows  # the example is a row of the training data (missing values as null)


def test_the_example_is_accepted(server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]
    answer = httpx.post(f"{server.url}/predict", json=example, timeout=60)
    assert answer.status_code == 200 and len(answer.json()) == 1
