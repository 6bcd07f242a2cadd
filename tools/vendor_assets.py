"""Vendor the web assets that the generated project's HTML pages load, so that they render offline.

    make vendor    (runs this; needs npm)

Great Expectations' Data Docs reference Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega on public CDNs,
and `dvc plots show` loads Vega from a CDN. The generated project serves the same files from vendor/web/ instead
(the validate stage copies them into the Data Docs site and rewrites the links; .dvc/config points DVC's plots page
at a template that loads them from there). The versions are the ones vendor/web/package.json and its
package-lock.json pin (Dependabot tracks them there): `npm ci --ignore-scripts` installs exactly those, checked
against the lock's integrity hashes and running no package's scripts, into a temporary folder, and the files below
are copied from it and committed with their licences; nothing is fetched when a project is generated or used.
GX 1.x's pages are written for Bootstrap 4 (data-toggle attributes, v4 classes), so Bootstrap stays on its last 4.x
release; every other package is at its newest release of the major version the pages use.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
TARGET = TEMPLATE / "{{cookiecutter.project_slug}}" / "vendor" / "web"
MANIFESTS = ("package.json", "package-lock.json")
# npm package -> (folder under vendor/web, {file in the package: file under the folder})
PACKAGES = {
    "jquery": ("jquery", {"dist/jquery.min.js": "jquery.min.js", "LICENSE.txt": "LICENSE.txt"}),
    "bootstrap": (
        "bootstrap",
        {
            "dist/css/bootstrap.min.css": "bootstrap.min.css",
            "dist/js/bootstrap.min.js": "bootstrap.min.js",
            "LICENSE": "LICENSE",
        },
    ),
    "popper.js": ("popper", {"dist/umd/popper.min.js": "popper.min.js"}),
    "bootstrap-table": (
        "bootstrap-table",
        {
            "dist/bootstrap-table.min.js": "bootstrap-table.min.js",
            "dist/bootstrap-table.min.css": "bootstrap-table.min.css",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
            "LICENSE": "LICENSE",
        },
    ),
    "bootstrap-datepicker": (
        "bootstrap-datepicker",
        {
            "dist/js/bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
            "dist/css/bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
            "LICENSE": "LICENSE",
        },
    ),
    "@fortawesome/fontawesome-free": (
        "fontawesome",
        {
            "css/all.min.css": "css/all.min.css",
            "webfonts/fa-solid-900.woff2": "webfonts/fa-solid-900.woff2",
            "webfonts/fa-regular-400.woff2": "webfonts/fa-regular-400.woff2",
            "webfonts/fa-brands-400.woff2": "webfonts/fa-brands-400.woff2",
            "webfonts/fa-v4compatibility.woff2": "webfonts/fa-v4compatibility.woff2",
            "LICENSE.txt": "LICENSE.txt",
        },
    ),
    "vega": ("vega", {"build/vega.min.js": "vega.min.js", "LICENSE": "LICENSE"}),
    "vega-lite": ("vega", {"build/vega-lite.min.js": "vega-lite.min.js", "LICENSE": "LICENSE.vega-lite"}),
    "vega-embed": ("vega", {"build/vega-embed.min.js": "vega-embed.min.js", "LICENSE": "LICENSE.vega-embed"}),
}
SOURCE_MAP = re.compile(rb"\n?/[/*]# sourceMappingURL=[^\n]*")
# Font Awesome's CSS also lists .ttf fallbacks; every browser that can run the pages takes the woff2 first.
TTF_FALLBACK = re.compile(rb",url\(\.\./webfonts/[a-z0-9-]+\.ttf\) format\(\"truetype\"\)")


def vendor(target: Path = TARGET) -> list[str]:
    manifest = json.loads((target / "package.json").read_text())
    if set(manifest["dependencies"]) != set(PACKAGES):
        raise SystemExit(f"{target / 'package.json'} and PACKAGES name different packages")
    # A licence a package stopped shipping (vega's, since 5.2x) is kept from the previous vendoring
    kept = {path.relative_to(target): path.read_bytes() for path in target.glob("*/LICENSE*")}
    lines = ["# Vendored web assets", "", INTRO, "", "| package | licence | files |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in MANIFESTS:
            shutil.copy(target / name, tmp)
        npm = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"]
        subprocess.run(npm, cwd=tmp, check=True)
        for path in target.iterdir():
            if path.name not in MANIFESTS:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for name, (folder, files) in PACKAGES.items():
            package = Path(tmp) / "node_modules" / name
            version = json.loads((package / "package.json").read_text())
            for source, dest in files.items():
                path = target / folder / dest
                path.parent.mkdir(parents=True, exist_ok=True)
                if not (package / source).exists() and Path(folder, dest) in kept:
                    path.write_bytes(kept[Path(folder, dest)])
                    continue
                data = (package / source).read_bytes()
                if dest.endswith((".js", ".css")):
                    data = SOURCE_MAP.sub(b"", data)
                    data = TTF_FALLBACK.sub(b"", data)
                path.write_bytes(data)
            shown = ", ".join(f"`{folder}/{d}`" for d in files.values() if "LICENSE" not in d)
            lines.append(f"| {name}@{version['version']} | {version.get('license')} | {shown} |")
    (target / "README.md").write_text("\n".join(lines) + "\n")
    return lines


INTRO = (
    "Served from here so that every HTML page of the project works offline. Written by the template's `make vendor` "
    "(tools/vendor_assets.py) from the packages package.json and package-lock.json pin (npm ci --ignore-scripts); "
    "do not edit."
)


if __name__ == "__main__":
    print("\n".join(vendor()))
    total = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file() and p.name not in MANIFESTS)
    print(f"{total / 1e6:.1f} MB in {TARGET.relative_to(TEMPLATE)}")
