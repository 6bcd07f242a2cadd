"""The generated project installs only what its locks pin, by hash: uv, every dependency, the build backend.

Fast: every lock (one per runner kind and DVC remote, and uv's own) carries a hash for each requirement, the locked
setuptools is the one pyproject's `[build-system]` pins, and `make setup` asks for hashes and builds the package
offline. Slow: a lock whose hashes do not match the real wheels makes `make setup` fail (uv re-checks even what
it has cached).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.lock_files import render_pyproject

from .locks import REQUIREMENT, lock_findings
from .projects import TEMPLATE, bake, run

PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"


def locked(text: str) -> dict[str, str]:
    return {name.lower(): version for name, version in REQUIREMENT.findall(text)}


@pytest.mark.parametrize("lock", sorted(p.name for p in (PROJECT / "_locks").glob("*.lock")))
def test_every_lock_pins_each_requirement_with_its_hash_and_the_build_backend(lock: str) -> None:
    text = (PROJECT / "_locks" / lock).read_text()
    assert lock_findings(text) == []
    kind, remote = lock.removesuffix(".lock").split("-")
    backend = tomllib.loads(render_pyproject({"cpu": "self-hosted-cpu", "gpu": "self-hosted-gpu"}[kind], remote))
    (requirement,) = backend["build-system"]["requires"]
    name, version = requirement.split("==")
    assert locked(text)[name] == version


def test_uv_is_pinned_with_its_hashes_at_the_makefiles_version() -> None:
    text = (PROJECT / "requirements-uv.lock").read_text()
    pin = re.search(r"^UV_VERSION := (\S+)$", (PROJECT / "Makefile").read_text(), re.MULTILINE)
    assert pin, "the generated Makefile has no `UV_VERSION := x.y.z` line"
    assert lock_findings(text) == [] and locked(text) == {"uv": pin[1]}


def test_a_lock_entry_without_a_hash_is_caught() -> None:
    text = (PROJECT / "_locks" / "cpu-local.lock").read_text()
    stripped = re.sub(r"(\npyyaml==\S+) \\\n(    --hash=\S+( \\)?\n)+", r"\1\n", text)
    assert stripped != text
    assert lock_findings(stripped) == [f"pyyaml=={locked(text)['pyyaml']} has no hash"]


def test_make_setup_requires_hashes_and_builds_offline(rendered: Callable[..., Path]) -> None:
    makefile = (rendered() / "Makefile").read_text()
    recipe = makefile[makefile.index("\nsetup:") : makefile.index("\nlock:")]
    installs = [line.strip() for line in recipe.splitlines() if " install " in line]
    assert len(installs) == 3, installs
    uv, dependencies, package = installs
    assert "--require-hashes" in uv and "-r requirements-uv.lock" in uv
    assert "--require-hashes" in dependencies and "-r $(LOCK)" in dependencies
    assert "--no-build-isolation" in package and "--no-index" in package and "--no-deps" in package
    assert not re.search(r"pip install [^\n]*\buv\b(?!-)", recipe.replace("requirements-uv.lock", ""))


@pytest.mark.slow
def test_make_setup_refuses_a_wheel_whose_hash_is_not_the_locks(tmp_path: Path) -> None:
    # Given a project whose lock names other hashes for one package than the real wheels have
    project = bake(tmp_path)
    lock = project / "requirements.lock"
    text = lock.read_text()
    found = re.search(r"\npyyaml==\S+ \\\n(    --hash=\S+( \\)?\n)+", text)
    assert found, "the lock has no pyyaml entry with hashes"
    block = found[0]
    lock.write_text(text.replace(block, re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, block)))
    # When it is set up (uv's cache holds the real wheel from earlier bakes)
    done = run(["make", "setup"], project, check=False, timeout=1200)
    # Then the install stops at that wheel
    assert done.returncode != 0
    assert "Hash mismatch" in done.stderr + done.stdout and "pyyaml" in (done.stderr + done.stdout).lower()
