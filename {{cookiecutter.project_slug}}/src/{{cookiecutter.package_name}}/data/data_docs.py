"""Great Expectations Data Docs that work offline and send nothing out.

GX writes pages that load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from public CDNs and a logo
from a cloud bucket (with the data context id in its URL). ``make_offline`` copies the project's vendored copies
(vendor/web/, the same versions) into the site and points every page at them; stylesheets and scripts the pages
do not need (a dark theme) are dropped, the remote logo becomes GX's own local one, and the
validation page names its data asset. ``remote_resources`` lists what a page would still load from another host.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..core.errors import MissingFile

VENDOR = Path("vendor/web")
SITE_VENDOR = Path("static/vendor")
# What the pages ask a CDN for -> the vendored file under static/vendor/ (None: not needed, the tag goes).
ASSETS = {
    r"https://maxcdn\.bootstrapcdn\.com/bootstrap/[\d.]+/css/bootstrap\.min\.css": "bootstrap/bootstrap.min.css",
    r"https://stackpath\.bootstrapcdn\.com/bootstrap/[\d.]+/js/bootstrap\.min\.js": "bootstrap/bootstrap.min.js",
    r"https://code\.jquery\.com/jquery-[\d.]+\.min\.js": "jquery/jquery.min.js",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/popper\.js/[\d.]+/umd/popper\.min\.js": "popper/popper.min.js",
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/bootstrap-table\.min\.(?P<ext>css|js)": "bootstrap-table/bootstrap-table.min.{ext}",
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/extensions/filter-control/bootstrap-table-filter-control(?:\.min)?\.(?P<ext>css|js)": "bootstrap-table/bootstrap-table-filter-control.min.{ext}",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/[\d.]+/css/all\.min\.css": "fontawesome/css/all.min.css",
    r"https://cdn\.jsdelivr\.net/npm/vega@5": "vega/vega.min.js",
    r"https://cdn\.jsdelivr\.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    r"https://cdn\.jsdelivr\.net/npm/vega-embed@6": "vega/vega-embed.min.js",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/[\d.]+/(?:css|js)/bootstrap-datepicker\.min\.(?P<ext>css|js)": "bootstrap-datepicker/bootstrap-datepicker.min.{ext}",
    r"https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@[^\"']+": None,
}
TAG = re.compile(r"<(script|link)\b[^>]*?(?:src|href)=\"(https?://[^\"]+)\"[^>]*>(?:\s*</script>)?", re.IGNORECASE)
SRI = re.compile(r"\s+(?:integrity|crossorigin)=\"[^\"]*\"")
REMOTE_LOGO = re.compile(r"https://great-expectations-web-assets\.[^\"')]+")
# Anything a page would fetch by itself: scripts, stylesheets, images, frames, CSS url(...); not plain links.
REMOTE = re.compile(
    r"<(?:script|img|iframe|source)\b[^>]*?\bsrc=\"(https?://[^\"]+)\""
    r"|<link\b[^>]*?\bhref=\"(https?://[^\"]+)\""
    r"|url\(['\"]?(https?://[^'\")]+)",
    re.IGNORECASE,
)


def _local(url: str) -> str | bool | None:
    """The vendored file for a CDN URL, None for one the page can do without, False when unknown."""
    for pattern, target in ASSETS.items():
        found = re.fullmatch(pattern, url)
        if found:
            return target.format(**found.groupdict()) if target else None
    return False


def rewrite(html: str, prefix: str, asset_name: str | None = None) -> str:
    """One page's HTML with CDN assets at ``prefix``/static/vendor/..., no remote logo, its data asset named."""

    def replace(tag: re.Match) -> str:
        target = _local(tag.group(2))
        if target is False:
            return tag.group(0)
        if target is None:
            return ""
        return SRI.sub("", tag.group(0).replace(tag.group(2), f"{prefix}{SITE_VENDOR.as_posix()}/{target}"))

    html = TAG.sub(replace, html)
    html = REMOTE_LOGO.sub(f"{prefix}static/images/logo-long.png", html)
    if asset_name:
        html = html.replace("Data asset: None<br>", f'<span class="h6">Data asset:</span> {asset_name}<br>')
    return html


def remote_resources(html: str) -> list[str]:
    """The URLs on other hosts that this page would load by itself (empty when the page is offline-safe)."""
    return [next(g for g in found.groups() if g) for found in REMOTE.finditer(html)]


def make_offline(site: Path, vendor: Path = VENDOR, asset_name: str | None = None) -> list[Path]:
    """Copy the vendored assets into the Data Docs ``site`` and rewrite its pages; returns the pages rewritten."""
    site = Path(site)
    if not (vendor / "jquery").is_dir():
        raise MissingFile(f"{vendor} has no vendored web assets: Data Docs would need the internet to render")
    shutil.copytree(vendor, site / SITE_VENDOR, dirs_exist_ok=True)
    pages = sorted(p for p in site.rglob("*.html") if SITE_VENDOR not in p.relative_to(site).parents)
    for page in pages:
        depth = len(page.relative_to(site).parts) - 1
        prefix = "../" * depth if depth else "./"
        text = page.read_text(encoding="utf-8")
        rewritten = rewrite(text, prefix, asset_name)
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")
    return pages


def site_dir(site_url: str | None) -> Path | None:
    """The folder of a local Data Docs site from the file:// URL GX reports for it."""
    if not site_url or not site_url.startswith("file://"):
        return None
    return Path(site_url.removeprefix("file://")).parent
