"""Addresses: where a page may send the person next (only a path of this site), and
the absolute addresses written in mails.

The `next` checker is the relying-party kit's (`idp.rp.redirects`): one rule for both.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, request, url_for

from idp.rp.redirects import local_path as safe_next

__all__ = ["public_url", "safe_next"]


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute address for a mail, built on the configured issuer and never on the
    request's Host header (a forged one would put another site in a reset link)."""
    path = url_for(endpoint, **values)
    root = request.script_root if has_request_context() else ""
    return current_app.config["IDP"]["server"]["issuer"] + path.removeprefix(root)
