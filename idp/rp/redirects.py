"""Where to send a person after a login: only to a path of this very site.

Shared by the relying-party kit and the provider (it imports nothing but the standard
library). A target is judged as a browser will read the `Location` header: browsers drop
tabs and newlines, trim control characters and read a backslash as a slash, and
Werkzeug removes control characters too, so `/\\t/evil.example` would become
`//evil.example` (another site). Any such character refuses the target outright.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit


def _suspicious(char: str) -> bool:
    # Cc/Cf/Cs/Co/Cn: controls (C0 and C1), invisible formatting, surrogates, unassigned.
    return char == "\\" or unicodedata.category(char).startswith("C")


def local_path(target: str | None) -> str | None:
    """`target` when it is a path of this site (`/compte?x=1`), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if any(_suspicious(char) for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
