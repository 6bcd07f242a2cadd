"""The window of served rows a command reads: ``--since 30m``, ``12h`` or ``7d`` (monitor.window by default)."""

from __future__ import annotations

import re
from datetime import timedelta

from ..core.errors import UserError

WINDOW = re.compile(r"^([1-9][0-9]*)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """'30m', '12h', '7d' -> a timedelta."""
    match = WINDOW.match(str(text).strip())
    if match is None:
        raise UserError(f"window {text!r} is not <n>m, <n>h or <n>d (e.g. 7d)")
    return timedelta(**{UNITS[match[2]]: int(match[1])})
