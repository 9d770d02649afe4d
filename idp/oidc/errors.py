"""OAuth errors as clients read them: an `error_description` made of the characters
RFC 6749 §5.2 allows (%x20-21 / %x23-5B / %x5D-7E), and never a server error.

Authlib refuses to build an error whose description holds anything else (quotes,
backslashes, tabs, line breaks, non-ASCII): it raises ValueError, a 500. Descriptions
echo what the client sent, in Authlib's errors (a redirect URI, a response type) as in
ours (a prompt, a response mode), and they end up in a URL, a JSON body or a
`WWW-Authenticate` header. So the one place every OAuth error goes through, the
constructor of `OAuth2Error`, is given a description that is always allowed.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from authlib.oauth2.base import OAuth2Error, invalid_error_characters

MAX_DESCRIPTION = 200  # an echoed value can be very long; the description stays short


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """OpenID Connect Core errata: the authentication requirements (an essential acr)
    cannot be met."""

    error = "unmet_authentication_requirements"


def safe_description(text: str | None) -> str | None:
    """`text` with every character RFC 6749 forbids replaced by '?', and cut short."""
    if not text:
        return text
    forbidden = set(invalid_error_characters(text))
    cleaned = "".join("?" if char in forbidden else char for char in text)
    if len(cleaned) > MAX_DESCRIPTION:
        cleaned = cleaned[:MAX_DESCRIPTION - 3] + "..."
    return cleaned


def install() -> None:
    """Wrap `OAuth2Error.__init__` (once per process) so that its description is safe."""
    original = OAuth2Error.__init__
    if getattr(original, "_safe_description", False):
        return

    @wraps(original)
    def init(self: OAuth2Error, description: str | None = None, *args: Any,
             **kwargs: Any) -> None:
        original(self, safe_description(description), *args, **kwargs)

    init._safe_description = True  # type: ignore[attr-defined]
    OAuth2Error.__init__ = init  # type: ignore[method-assign]
