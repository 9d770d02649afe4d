"""CSRF protection of every form: the token, and the origin the browser declares.

Flask-WTF's strict https check wants a same-origin `Referer` on every POST, which a
browser omits whenever a referrer policy, a privacy setting or an extension says so: the
sign-in then fails over https only. Here the token (bound to the server-side session)
is always required, and the browser's own statement of where the form comes from
(`Origin`, else `Referer`) must name this site whenever it is given; a cross-site POST
is refused even with a valid token. The session cookie is `__Host-` prefixed over https,
so that no other host (a sibling subdomain) can plant a session and its token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, request
from flask_wtf import CSRFProtect

CROSS_SITE = "The request comes from another site."


def _origin(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # "http://[::1", a port out of range: no origin at all
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"


def declared_origin_is_ours() -> bool:
    """False when the browser says the request comes from another origin than ours (or
    from an origin that cannot be read)."""
    ours = _origin(request.host_url)
    declared = request.headers.get("Origin")
    if not declared or declared == "null":  # "null": opaque origin, see the Referer
        declared = request.referrer
    return not declared or (ours is not None and _origin(declared) == ours)


class SameOriginCSRF(CSRFProtect):
    """CSRFProtect with the origin check above instead of the strict Referer check
    (`WTF_CSRF_SSL_STRICT` is off in the app factory)."""

    def protect(self, apply_exemptions: bool = False) -> None:
        super().protect(apply_exemptions)
        # Only where the token was checked: not on GET, nor on exempt protocol endpoints.
        if g.get("csrf_valid") and not declared_origin_is_ours():
            self._error_response(CROSS_SITE)


csrf = SameOriginCSRF()  # initialised by the app factory; `@csrf.exempt` for endpoints
