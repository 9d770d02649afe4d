"""Server-side sessions in the application's SQL database.

The tokens never travel in a cookie (they would not fit in one anyway): the cookie holds
a random id, the row its hash. Each row also records the provider's `sid` and the
person's `sub`, which is how a back-channel logout ends the right sessions in every
process at once. A cookie naming a row that has expired or was ended gives a session
marked `expired`, so the application can say "session expirée" rather than just
redirecting to the login.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from werkzeug.datastructures import CallbackDict

from idp.rp.models import sessions

SESSION_KEY = "plage_rp"  # where the kit keeps the login in the session
TOUCH_INTERVAL = 60  # seconds between two extensions of a sliding expiry


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KitSession(CallbackDict[str, Any], SessionMixin):
    """A session whose data lives in the `plage_rp_sessions` table."""

    def __init__(self, data: dict[str, Any] | None = None, token: str | None = None,
                 expires_at: float = 0.0, expired: bool = False) -> None:
        def on_update(_self: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.token = token
        self.expires_at = expires_at
        self.expired = expired
        self.previous_token: str | None = None
        self.modified = False

    def regenerate(self) -> None:
        """A new id for the session (at login: no session fixation)."""
        if self.token is not None:
            self.previous_token = self.previous_token or self.token
        self.token = None
        self.modified = True


class SqlSessionInterface(SessionInterface):
    """Flask's session, stored in `plage_rp_sessions` with a sliding `lifetime`."""

    def __init__(self, engine: Engine, lifetime: int) -> None:
        self.engine = engine
        self.lifetime = lifetime

    def open_session(self, app: Flask, request: Request) -> KitSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token:
            return KitSession()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions.c.data, sessions.c.expires_at)
                .where(sessions.c.id == _digest(token), sessions.c.expires_at > time.time())
            ).first()
        if row is None:
            return KitSession(expired=True)
        return KitSession(dict(row.data), token=token, expires_at=row.expires_at)

    def save_session(self, app: Flask, session: KitSession,  # type: ignore[override]
                     response: Response) -> None:
        name = self.get_cookie_name(app)
        with self.engine.begin() as conn:
            if session.previous_token:
                conn.execute(delete(sessions).where(
                    sessions.c.id == _digest(session.previous_token)))
            if not session:
                if session.token and session.modified:
                    conn.execute(delete(sessions).where(
                        sessions.c.id == _digest(session.token)))
                # An ended session's cookie is dropped once the page said it had expired.
                if session.modified or session.previous_token or session.expired:
                    response.delete_cookie(name, path=self.get_cookie_path(app),
                                           domain=self.get_cookie_domain(app))
                return
            now = time.time()
            touch = session.expires_at - now < self.lifetime - TOUCH_INTERVAL
            if not (session.modified or touch):
                return
            login = session.get(SESSION_KEY) or {}
            values = {"data": dict(session), "sub": login.get("sub"), "sid": login.get("sid"),
                      "expires_at": now + self.lifetime}
            if session.token is None:
                session.token = secrets.token_urlsafe(32)
                conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
                conn.execute(insert(sessions).values(id=_digest(session.token), **values))
            elif not conn.execute(update(sessions).where(
                    sessions.c.id == _digest(session.token)).values(**values)).rowcount:
                # ended meanwhile (back-channel logout): do not bring it back to life
                response.delete_cookie(name, path=self.get_cookie_path(app),
                                       domain=self.get_cookie_domain(app))
                return
        response.set_cookie(
            name, session.token, path=self.get_cookie_path(app),
            domain=self.get_cookie_domain(app), secure=self.get_cookie_secure(app),
            httponly=True, samesite=self.get_cookie_samesite(app) or "Lax",
        )


def end_sessions(engine: Engine, *, sid: str | None = None, sub: str | None = None) -> int:
    """End the sessions of a provider session (`sid`) and/or of a person (`sub`)."""
    if not sid and not sub:
        raise ValueError("sid or sub is required")
    query = delete(sessions)
    if sid:
        query = query.where(sessions.c.sid == sid)
    if sub:
        query = query.where(sessions.c.sub == sub)
    with engine.begin() as conn:
        return conn.execute(query).rowcount
