"""The service's OpenAPI document is its contract: schemathesis (every check, a fixed seed, bounded examples) against a
real `make serve` of the default project finds no failure.

Every operation of /docs.json is exercised: bodies that the spec says are valid must be accepted, bodies it says are
invalid must be refused, and every answer (status, headers, body) must be one the spec lists. ``fuzz`` takes extra
headers, so a run with credentials (a bearer token for /feedback) is one more call.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from .projects import free_port, project_env, serving

pytestmark = pytest.mark.slow
SEED = 25
MAX_EXAMPLES = 30  # per operation: about 4 minutes of fuzzing on 2 cores


def fuzz(url: str, report: Path, headers: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """schemathesis over every operation of ``url``/docs.json with all checks; its JUnit report in ``report``."""
    command = [
        shutil.which("st") or "st",
        "run",
        f"{url}/docs.json",
        "--url",
        url,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    # in the report's folder: schemathesis keeps a crash cache (.schemathesis/) in its working directory
    report.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, cwd=report.parent, capture_output=True, text=True, timeout=900, check=False)


def test_the_spec_is_the_contract(default_project: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = "contract-test-feedback-token-0123456789"  # /feedback needs one (32+ characters)
    env = project_env(default_project) | {
        "SERVING_DB_URL": f"sqlite:///{tmp_path / 'serving.db'}",
        "FEEDBACK_TOKEN": token,
    }
    with serving(["make", "serve", f"PORT={port}"], default_project, f"{url}/readyz", tmp_path / "serve.log", env=env,
                 stop=signal.SIGINT):  # fmt: skip
        with urllib.request.urlopen(f"{url}/docs.json", timeout=30) as answer:
            spec = json.loads(answer.read())
        runs = {
            "anonymous": fuzz(url, tmp_path / "anonymous" / "junit.xml"),  # /feedback: 401 (documented)
            "labeller": fuzz(url, tmp_path / "labeller" / "junit.xml", {"Authorization": f"Bearer {token}"}),
        }
    assert {"/predict", "/feedback"} <= set(spec["paths"])
    operations = len([op for ops in spec["paths"].values() for op in ops])
    for name, done in runs.items():
        summary = done.stdout[-6000:]
        (tmp_path / name / "schemathesis.txt").write_text(done.stdout + done.stderr)
        # every operation was tested, every generated case passed every check
        assert done.returncode == 0, name + summary + done.stderr[-3000:]
        tested = re.search(r"Tested: (\d+)", done.stdout)
        cases = re.search(r"(\d+) generated, (\d+) passed\s*$", done.stdout, re.MULTILINE)
        assert tested and int(tested.group(1)) == operations, name + summary
        assert cases and int(cases.group(1)) == int(cases.group(2)) > 100, name + summary
