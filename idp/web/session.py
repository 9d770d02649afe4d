"""Server-side sessions kept in the short-lived store, and the provider's login state.

The cookie holds only a random id; the data lives in the store (Redis or SQL), so every
process and host sees the same session and logging out really ends it. The id is
replaced at login (no session fixation). The store knows the session by the id's
SHA-256 only: a copy of the store (or a log of its keys) opens no session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Request, Response, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from idp.store import ShortLivedStore, StoreUnavailable

COOKIE_NAME = "plage_session"
# Over https the cookie may only be set by this very host (no Domain, Secure, path /):
# a sibling subdomain cannot plant a session of its own (and its CSRF token) on ours.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
_PREFIX = "session:"


def _key(sid: str) -> str:
    return _PREFIX + hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, sid: str | None = None, data: dict[str, Any] | None = None,
                 store_error: bool = False) -> None:
        def on_update(_self: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid or secrets.token_urlsafe(32)
        self.previous_sid: str | None = None
        self.modified = False
        self.store_error = store_error

    def regenerate(self) -> None:
        """Give the session a new id (at login), dropping the old one from the store."""
        self.previous_sid = self.previous_sid or self.sid
        self.sid = secrets.token_urlsafe(32)
        self.modified = True


class StoreSessionInterface(SessionInterface):
    def _store(self, app: Flask) -> ShortLivedStore:
        return app.extensions["idp.store"]

    def _cookie(self, app: Flask) -> str:
        return SECURE_COOKIE_NAME if app.config["SESSION_COOKIE_SECURE"] else COOKIE_NAME

    def _ttl(self, app: Flask) -> int:
        return int(app.config["IDP"]["oidc"]["session_ttl"])

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self._cookie(app))
        if not sid:
            return ServerSession()
        try:
            data = self._store(app).get(_key(sid))
        except StoreUnavailable:
            app.logger.error("session store unavailable")
            return ServerSession(sid=sid, store_error=True)
        if data is None:
            return ServerSession()  # expired or unknown: start afresh with a new id
        return ServerSession(sid=sid, data=data)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.store_error:
            return
        try:
            self._save(app, session, response)
        except StoreUnavailable as exc:
            # Too late for the error handlers (the view has answered, Flask would make
            # it a 500): the answer becomes theirs, a 503, since the session is lost.
            failed = app.make_response(app.handle_user_exception(exc))
            response.status_code, response.headers = failed.status_code, failed.headers
            response.set_data(failed.get_data())

    def _save(self, app: Flask, session: ServerSession, response: Response) -> None:
        store = self._store(app)
        secure = app.config["SESSION_COOKIE_SECURE"]
        if session.previous_sid:
            store.delete(_key(session.previous_sid))
        if not session and session.modified:
            store.delete(_key(session.sid))
            response.delete_cookie(self._cookie(app), path="/", secure=secure, httponly=True,
                                   samesite="Lax")
            return
        if not session.modified:
            return
        store.put(_key(session.sid), dict(session), self._ttl(app))
        response.set_cookie(self._cookie(app), session.sid, max_age=self._ttl(app), path="/",
                            secure=secure, httponly=True, samesite="Lax")


# --- login state ----------------------------------------------------------------------

ACR_BASIC = "eidas1"  # password authentication (the French federations' lowest level)


@dataclass
class LoginState:
    """Who is signed in to the provider in this browser, and how."""

    account_id: int
    auth_time: int
    amr: list[str]
    acr: str
    sid: str  # the OIDC session id shared with clients (not the cookie value)
    clients: list[str] = field(default_factory=list)


def current_login() -> LoginState | None:
    data = session.get("login")
    if not data:
        return None
    return LoginState(**data)


def start_login(account_id: int, amr: list[str], acr: str = ACR_BASIC) -> LoginState:
    """Record a successful authentication; the session gets a new id.

    Everything else is dropped except the authorization requests under way, which the
    login is meant to complete.
    """
    pending = session.get("interactions", [])
    session.clear()
    if pending:
        session["interactions"] = pending
    assert isinstance(session, ServerSession)
    session.regenerate()
    state = LoginState(account_id=account_id, auth_time=int(time.time()), amr=amr, acr=acr,
                       sid=secrets.token_urlsafe(24))
    session["login"] = asdict(state)
    return state


def remember_client(client_id: str) -> None:
    """Note that a client received tokens in this session (for logout)."""
    state = current_login()
    if state and client_id not in state.clients:
        state.clients.append(client_id)
        session["login"] = asdict(state)


def end_login() -> LoginState | None:
    state = current_login()
    session.clear()
    return state


def install(app: Flask) -> None:
    app.session_interface = StoreSessionInterface()

    @app.before_request
    def _session_must_work() -> None:
        if getattr(session, "store_error", False):
            raise StoreUnavailable("session store")
