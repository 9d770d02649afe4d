"""An authorization request in progress, kept between the pages of the login.

Its parameters (validated once) live in the short-lived store under a random id; the id
is also written in the browser's session, so another browser cannot resume it.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app, session

INTERACTION_TTL = 30 * 60
_PREFIX = "authz:"
_MAX_PER_SESSION = 10


def _store() -> Any:
    return current_app.extensions["idp.store"]


def start(params: dict[str, str]) -> dict[str, Any]:
    uid = secrets.token_urlsafe(16)
    state: dict[str, Any] = {"uid": uid, "params": params}
    save(state)
    owned = [u for u in session.get("interactions", []) if u != uid][-(_MAX_PER_SESSION - 1):]
    session["interactions"] = [*owned, uid]
    return state


def save(state: dict[str, Any]) -> None:
    _store().put(_PREFIX + state["uid"], state, INTERACTION_TTL)


def load(uid: str) -> dict[str, Any] | None:
    """The interaction, if it exists and belongs to this browser."""
    if uid not in session.get("interactions", []):
        return None
    return _store().get(_PREFIX + uid)


def finish(uid: str) -> None:
    _store().delete(_PREFIX + uid)
    owned = [u for u in session.get("interactions", []) if u != uid]
    session["interactions"] = owned
