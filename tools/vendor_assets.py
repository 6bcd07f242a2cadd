"""Vendor the web assets that the generated project's HTML pages load, so that they render offline.

    make vendor    (runs this; needs npm)

Great Expectations' Data Docs reference Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega on public CDNs,
and `dvc plots show` loads Vega from a CDN. The generated project serves the same files from vendor/web/ instead
(the validate stage copies them into the Data Docs site and rewrites the links; .dvc/config points DVC's plots page
at a template that loads them from there). The exact versions those pages ask for are taken from npm here and
committed, with their licences; nothing is fetched when a project is generated or used.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
TARGET = TEMPLATE / "{{cookiecutter.project_slug}}" / "vendor" / "web"
# npm package -> (folder under vendor/web, {file in the package: file under the folder})
PACKAGES = {
    "jquery@3.7.1": ("jquery", {"dist/jquery.min.js": "jquery.min.js", "LICENSE.txt": "LICENSE.txt"}),
    "bootstrap@4.3.1": (
        "bootstrap",
        {
            "dist/css/bootstrap.min.css": "bootstrap.min.css",
            "dist/js/bootstrap.min.js": "bootstrap.min.js",
            "LICENSE": "LICENSE",
        },
    ),
    "popper.js@1.12.9": ("popper", {"dist/umd/popper.min.js": "popper.min.js"}),
    "bootstrap-table@1.19.1": (
        "bootstrap-table",
        {
            "dist/bootstrap-table.min.js": "bootstrap-table.min.js",
            "dist/bootstrap-table.min.css": "bootstrap-table.min.css",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
            "LICENSE": "LICENSE",
        },
    ),
    "bootstrap-datepicker@1.9.0": (
        "bootstrap-datepicker",
        {
            "dist/js/bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
            "dist/css/bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
            "LICENSE": "LICENSE",
        },
    ),
    "@fortawesome/fontawesome-free@6.6.0": (
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
    "vega@5.20.2": ("vega", {"build/vega.min.js": "vega.min.js", "LICENSE": "LICENSE"}),
    "vega-lite@5.2.0": ("vega", {"build/vega-lite.min.js": "vega-lite.min.js", "LICENSE": "LICENSE.vega-lite"}),
    "vega-embed@6.18.2": ("vega", {"build/vega-embed.min.js": "vega-embed.min.js", "LICENSE": "LICENSE.vega-embed"}),
}
SOURCE_MAP = re.compile(rb"\n?/[/*]# sourceMappingURL=[^\n]*")
# Font Awesome's CSS also lists .ttf fallbacks; every browser that can run the pages takes the woff2 first.
TTF_FALLBACK = re.compile(rb",url\(\.\./webfonts/[a-z0-9-]+\.ttf\) format\(\"truetype\"\)")


def member(archive: tarfile.TarFile, name: str) -> bytes:
    """A regular file's bytes from an npm package's tarball."""
    found = archive.extractfile(name)
    if found is None:
        raise SystemExit(f"{name} in the npm package is not a regular file")
    return found.read()


def vendor(target: Path = TARGET) -> list[str]:
    shutil.rmtree(target, ignore_errors=True)
    intro = (
        "Served from here so that every HTML page of the project works offline. "
        "Written by the template's `make vendor` (tools/vendor_assets.py) from npm; do not edit."
    )
    lines = ["# Vendored web assets", "", intro, "", "| package | licence | files |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (folder, files) in PACKAGES.items():
            name = (
                subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            with tarfile.open(Path(tmp) / name) as archive:
                manifest = json.loads(member(archive, "package/package.json"))
                for source, dest in files.items():
                    data = member(archive, f"package/{source}")
                    if dest.endswith((".js", ".css")):
                        data = SOURCE_MAP.sub(b"", data)
                        data = TTF_FALLBACK.sub(b"", data)
                    path = target / folder / dest
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
            shown = ", ".join(f"`{folder}/{d}`" for d in files.values() if "LICENSE" not in d)
            lines.append(f"| {spec} | {manifest.get('license')} | {shown} |")
    (target / "README.md").write_text("\n".join(lines) + "\n")
    return lines


if __name__ == "__main__":
    print("\n".join(vendor()))
    total = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"{total / 1e6:.1f} MB in {TARGET.relative_to(TEMPLATE)}")
