"""The monitoring report's pictures, as inline SVG (no scripts, nothing fetched): a feature's reference-vs-served
distribution (a histogram for numbers, shares for categories) and a value per day (bars or lines).

Each chart has its own scale: a feature is compared with itself, never squeezed onto another feature's axis.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

REFERENCE, SERVED = "#9e9e9e", "#1f6fb2"
PALETTE = ("#1f6fb2", "#d9730d", "#2e8540", "#b00020", "#6a3d9a", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT, PAD = 360, 150, 28
BINS = 24
TOP_CATEGORIES = 10


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _svg(body: list[str], label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(label)}">{"".join(body)}</svg>'


def histogram(name: str, reference: pd.Series, current: pd.Series) -> str:
    """Reference (grey) and served (blue, see-through, drawn over it) shares of rows per bin, on one range that
    covers both (their 0.5th to 99.5th percentiles, so one outlier does not flatten the picture)."""
    ref = reference.dropna().astype(float).to_numpy()
    cur = current.dropna().astype(float).to_numpy()
    if not len(ref) or not len(cur):
        return ""
    both = np.concatenate([ref, cur])
    low, high = (float(v) for v in np.percentile(both, [0.5, 99.5]))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, BINS + 1)
    shares = [np.histogram(np.clip(v, low, high), bins=edges)[0] / len(v) for v in (ref, cur)]
    top = max(float(s.max()) for s in shares) or 1.0
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = plot_w / BINS
    body = [f'<line x1="{PAD}" y1="{PAD + plot_h}" x2="{PAD + plot_w}" y2="{PAD + plot_h}" stroke="#555"/>']
    for share, colour, opacity in ((shares[0], REFERENCE, 1.0), (shares[1], SERVED, 0.55)):
        for i, value in enumerate(share):
            h = plot_h * float(value) / top
            body.append(
                f'<rect x="{PAD + i * step:.1f}" y="{PAD + plot_h - h:.1f}" width="{step - 1:.1f}" height="{h:.1f}" '
                f'fill="{colour}" fill-opacity="{opacity}"/>'
            )
    body += [
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="11">{_fmt(low)}</text>',
        f'<text x="{PAD + plot_w}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">{_fmt(high)}</text>',
        f'<text x="{PAD}" y="16" font-size="12" font-weight="bold">{html.escape(name[:40])}</text>',
        *_legend(),
    ]
    return _svg(body, f"{name}: training vs served distribution")


def _legend() -> list[str]:
    """The legend at the top right."""
    x = WIDTH - PAD - 120
    return [
        f'<rect x="{x}" y="6" width="10" height="10" fill="{REFERENCE}"/>',
        f'<text x="{x + 14}" y="15" font-size="11">training</text>',
        f'<rect x="{x + 68}" y="6" width="10" height="10" fill="{SERVED}" fill-opacity="0.55"/>',
        f'<text x="{x + 82}" y="15" font-size="11">served</text>',
    ]


def categories(name: str, reference: pd.Series, current: pd.Series) -> str:
    """Each category's share of rows, training (grey) over served (blue), the TOP_CATEGORIES most common."""
    before = reference.dropna().astype(str).value_counts(normalize=True)
    after = current.dropna().astype(str).value_counts(normalize=True)
    if before.empty or after.empty:
        return ""
    shown = (before.add(after, fill_value=0)).sort_values(ascending=False).index[:TOP_CATEGORIES]
    row_h, label_w = 24, 110
    height = PAD + row_h * len(shown) + 8
    plot_w = WIDTH - label_w - 50
    top = max(float(before.max()), float(after.max())) or 1.0
    body = [f'<text x="0" y="16" font-size="12" font-weight="bold">{html.escape(name[:40])}</text>']
    body += _legend()
    for i, category in enumerate(shown):
        y = PAD + i * row_h
        a, b = float(before.get(category, 0.0)), float(after.get(category, 0.0))
        body += [
            f'<text x="0" y="{y + 15}" font-size="11">{html.escape(str(category)[:16])}</text>',
            f'<rect x="{label_w}" y="{y}" width="{plot_w * a / top:.1f}" height="10" fill="{REFERENCE}"/>',
            f'<rect x="{label_w}" y="{y + 11}" width="{plot_w * b / top:.1f}" height="10" fill="{SERVED}"/>',
            (
                f'<text x="{label_w + plot_w * max(a, b) / top + 4:.1f}" y="{y + 15}" font-size="11">'
                f"{100 * a:.0f}% → {100 * b:.0f}%</text>"
            ),
        ]
    return _svg(body, f"{name}: training vs served shares", height=height)


def per_day(
    title: str,
    days: Sequence[str],
    series: dict[str, Sequence[float | None]],
    bars: bool = False,
    scale: tuple[float, float] | None = None,
) -> str:
    """Values by day: bars for one series (``bars``), else one line per series with its name in the legend;
    ``scale``: the y axis's range (shares: 0 to 1), else from 0 (bars) or the lowest value to the highest."""
    if not days or not series:
        return ""
    values = [v for line in series.values() for v in line if v is not None and math.isfinite(v)]
    if not values:
        return ""
    low, high = scale or (0.0 if bars else min(values), max(values))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    left = 2 * PAD  # room for the axis's numbers
    plot_w, plot_h = WIDTH * 1.6 - left - PAD, HEIGHT - 2 * PAD
    step = plot_w / len(days)

    def y_of(value: float) -> float:
        return PAD + plot_h - plot_h * (value - low) / (high - low)

    body = [
        f'<text x="{left}" y="16" font-size="12" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{PAD + plot_h}" x2="{left + plot_w}" y2="{PAD + plot_h}" stroke="#555"/>',
        f'<text x="{left - 4}" y="{PAD + 8}" font-size="10" text-anchor="end">{_fmt(high)}</text>',
        f'<text x="{left - 4}" y="{PAD + plot_h}" font-size="10" text-anchor="end">{_fmt(low)}</text>',
        f'<text x="{left}" y="{HEIGHT - 8}" font-size="10">{html.escape(days[0])}</text>',
        f'<text x="{left + plot_w}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{html.escape(days[-1])}</text>',
    ]
    for n, (name, line) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = [(left + (i + 0.5) * step, y_of(v)) for i, v in enumerate(line) if v is not None and math.isfinite(v)]
        if bars:
            body += [
                f'<rect x="{x - step * 0.4:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{PAD + plot_h - y:.1f}" '
                f'fill="{colour}"/>'
                for x, y in points
            ]
        else:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points]
        if len(series) > 1:
            x = left + plot_w - 90 * (len(series) - n)
            body.append(f'<text x="{x:.1f}" y="16" font-size="11" fill="{colour}">■ {html.escape(name[:12])}</text>')
    return _svg(body, title, width=int(WIDTH * 1.6))
