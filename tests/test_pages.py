"""Every page a user opens, in a real headless Chromium with every host but 127.0.0.1 blocked.

Uses the shared default project (its pipeline run once for all the slow tests) and opens the MLflow UI (a real
`make ui` on a free port), the Great Expectations Data Docs, the DVC plots page and the service's docs page (a real
`make serve`), asserts what a user must see on each, and that no page asked another host for anything (every
request is collected from Chrome's performance log). Debian's chromium and chromedriver (apt) drive it through
selenium; nothing is downloaded.
Screenshots go to $PAGES_SCREENSHOTS (default: the test's temp folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .projects import free_port, project_env, serving

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome", "chrome-error", "devtools"}


def offsite(urls: list[str]) -> list[str]:
    """The requested URLs that would leave the machine."""
    found = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES:
            continue
        if parts.hostname not in LOOPBACK:
            found.append(url)
    return found


class Browser:
    """Headless Chromium that can reach only 127.0.0.1 and records every request it makes."""

    def __init__(self, shots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--disable-features=OptimizationHints,Translate,MediaRouter,AutofillServerCommunication",
            # Names resolve to nothing but 127.0.0.1, and any request that still tries goes to a proxy that refuses.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1;localhost",
            "--allow-file-access-from-files",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        self.driver.set_page_load_timeout(120)
        self.shots = shots
        self.requests: list[str] = []

    def open(self, url: str, settle: float = 2.0) -> None:
        self.driver.get(url)
        time.sleep(settle)

    def wait_text(self, *texts: str, seconds: float = 90) -> str:
        """The page's visible text once it shows every one of ``texts``."""
        deadline = time.monotonic() + seconds
        while True:
            body = self.driver.find_element("tag name", "body").text
            if all(t in body for t in texts):
                return body
            if time.monotonic() > deadline:
                missing = [t for t in texts if t not in body]
                raise AssertionError(f"{self.driver.current_url} never showed {missing}; it shows:\n{body[:3000]}")
            time.sleep(1)

    def collect(self) -> list[str]:
        """Every URL requested since the last call (documents, scripts, styles, fonts, images, XHR)."""
        urls = []
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]  # selenium: unannotated
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.webSocketCreated":
                urls.append(message["params"]["url"])
        self.requests += urls
        return urls

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def project(default_project: Path) -> Path:
    """The shared default project (set up, its pipeline run): these tests only read it, before any test retrains it
    (conftest.DEFAULT_PROJECT_ORDER)."""
    return default_project


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromedriver are needed (apt-get install chromium chromium-driver; .ci/run does)")
    shots = Path(os.environ.get("PAGES_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    browser = Browser(shots)
    yield browser
    browser.quit()


def test_mlflow_ui_shows_runs_children_and_champion(project: Path, browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "ui.log"
    with serving(["make", "ui", f"MLFLOW_PORT={port}"], project, f"http://127.0.0.1:{port}/health", log):
        links = dict(re.findall(r"^\s*(experiment|champion):\s+(http://\S+)$", log.read_text(), re.MULTILINE))
        assert set(links) == {"experiment", "champion"}, log.read_text()
        candidate = json.loads((project / "models/candidate.json").read_text())
        parent = candidate["run_name"]

        browser.open(links["experiment"])
        text = browser.wait_text(parent, "Run Name", "Duration", "train (", "test (")  # named parent, its datasets
        assert "Observability" not in text  # the model-training view, not MLflow's GenAI overview
        browser.shot("mlflow-runs")
        expander = browser.driver.find_element("css selector", "button[data-component-id*='runnamecellrenderer']")
        expander.click()
        text = browser.wait_text(parent, "logistic_regression(C=", "hist_gradient_boosting(")  # its child runs
        browser.shot("mlflow-runs-expanded")

        browser.open(links["champion"])
        text = browser.wait_text("@ champion", "promoted by the quality gate", parent)
        assert candidate["data_md5"] in text and "commit:" in text
        browser.shot("mlflow-champion")
    urls = browser.collect()
    assert any(f"127.0.0.1:{port}" in u for u in urls)
    assert offsite(urls) == []


def test_data_docs_offline(project: Path, browser: Browser) -> None:
    report = json.loads((project / "reports/validation.json").read_text())
    index = report["data_docs"]
    assert index.startswith("file://") and index.endswith("index.html")
    browser.open(index)
    text = browser.wait_text("Validation Results", "dataset-", "raw_data")
    assert "__none__" not in text
    assert browser.driver.execute_script("return typeof window.jQuery === 'function' && !!jQuery.fn.bootstrapTable")
    rows = browser.driver.find_elements("css selector", "table tbody tr")
    assert rows, "the Data Docs tables are empty"
    # styled: Bootstrap's CSS and Font Awesome's icon font are applied
    assert (
        browser.driver.execute_script(
            "return getComputedStyle(document.querySelector('.container-fluid, .container')).paddingLeft"
        )
        != "0px"
    )
    assert browser.driver.execute_script(
        "return [...document.fonts].some(f => f.family.includes('Font Awesome') && f.status === 'loaded')"
    )
    browser.shot("data-docs-index")
    site = Path(urlsplit(index).path).parent
    result = max(site.glob("validations/**/*.html"), key=lambda p: p.stat().st_mtime)
    browser.open(result.as_uri())
    browser.wait_text("Data asset:", "raw_data (data/raw/dataset.parquet)", "Succeeded")
    browser.shot("data-docs-validation")
    assert offsite(browser.collect()) == []


def test_dvc_plots_offline(project: Path, browser: Browser) -> None:
    done = subprocess.run(
        ["make", "plots"], cwd=project, env=project_env(project), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    page = project / "dvc_plots" / "index.html"
    browser.open(page.as_uri(), settle=4)
    assert browser.driver.execute_script("return typeof vegaEmbed === 'function'")
    charts = browser.driver.find_elements("css selector", ".vega-embed svg, .vega-embed canvas")
    assert len(charts) >= 2, "the vega plots did not render"
    browser.shot("dvc-plots")
    assert offsite(browser.collect()) == []


def test_service_docs_page(project: Path, browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(["make", "serve", f"PORT={port}"], project, f"{base}/readyz", tmp_path / "serve.log"):
        spec = json.loads(urllib.request.urlopen(f"{base}/docs.json", timeout=30).read())
        responses = spec["paths"]["/predict"]["post"]["responses"]
        assert {"200", "400", "413", "503"} <= set(responses)
        assert "None" not in spec["info"]["version"]
        example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]
        first = example["records"][0]
        # made up from the schema (the page is public): 0 for numbers, null for text, never a training row
        assert first and set(first.values()) <= {0.0, None}

        # every service URL that the README and docs name answers (not 404)
        named = set()
        for doc in [project / "README.md", *sorted((project / "docs").glob("*.md"))]:
            named |= set(re.findall(r"http://127\.0\.0\.1:3000(/[\w./-]*)?", doc.read_text()))
            named |= {
                m
                for m in re.findall(r"`(?:GET |POST )?(/[a-z][\w./-]*)`", doc.read_text())
                if m.split("/")[1] in {"docs", "docs.json", "livez", "readyz", "healthz", "metrics", "predict"}
            }
        assert {"/docs", "/predict"} <= named
        for path in sorted(named | {"/"}):
            request = urllib.request.Request(f"{base}{path or '/'}")
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            assert status != 404, f"{path} is named in the docs but the service answers 404"

        for page in ("/", "/docs"):
            browser.open(f"{base}{page}")
            browser.wait_text("/predict", "POST")
        # /predict by its path: the service has other POST operations (/feedback)
        browser.driver.find_element("css selector", ".opblock-post .opblock-summary-path[data-path='/predict']").click()
        text = browser.wait_text("Example Value", next(iter(first)), "413", "503")
        assert "version None" not in text
        browser.shot("service-docs")
    assert offsite(browser.collect()) == []
