"""Where a page may send the person next: only to a path of this site."""

from __future__ import annotations


def safe_next(target: str | None) -> str | None:
    """Only local paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
