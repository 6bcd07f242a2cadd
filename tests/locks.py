"""Reading lock files: their pinned requirements, and the ones that carry no hash (a plain helper module)."""

from __future__ import annotations

import re

REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def lock_findings(text: str) -> list[str]:
    """Each pinned requirement of a lock, with no hash after it."""
    found = []
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    for block in blocks:
        name = REQUIREMENT.match(block)
        if name is None:
            found.append(f"not a pinned requirement: {block.splitlines()[0]!r}")
        elif not re.search(r"--hash=sha256:[0-9a-f]{64}", block):
            found.append(f"{name[1]}=={name[2]} has no hash")
    return found
