"""Server-side sessions kept in the short-lived store, and the provider's login state.

The cookie holds only a random id; the data lives in the store (Redis or SQL), so every
process and host sees the same session and logging out really ends it. The store knows
the session by the id's SHA-256 only: a copy of the store (or a log of its keys) opens
no session. The id is replaced at login, at logout and at a profile switch (no session
fixation, no id that outlives a change of rights).

A session ends `oidc.session_ttl` after it began (the login, for a signed-in one),
whatever its activity, and earlier after `oidc.session_idle_timeout` without any: each
use pushes its expiry in the store back, at most once every `TOUCH_EVERY` seconds so
that a busy session costs no write per request. An application refreshing its tokens
counts as a use (`provider_session_alive`).

Two indexes let other requests end or check a session:
- `account-sessions:<account id>`: the key hashes of the sessions where the account
  signed in (a password reset ends them all);
- `provider-session:<sid>`: the key hash of the session an OIDC `sid` lives in (refresh
  tokens without offline_access work while it lives).
A session ended from elsewhere stays ended: a request of that session still under way
writes only over a live entry (`replace`).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Request, Response, current_app, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

# The ladder's home is the shared kernel (the catalogue checks its levels too); the
# pages and the pipeline know it from here.
from idp.core.assurance import (  # noqa: F401
    ACR_BASIC,
    ACR_LADDER,
    ACR_SECOND_FACTOR,
    acr_reaches,
)
from idp.store import ShortLivedStore, StoreUnavailable

COOKIE_NAME = "plage_session"
# Over https the cookie may only be set by this very host (no Domain, Secure, path /):
# a sibling subdomain cannot plant a session of its own (and its CSRF token) on ours.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
_PREFIX = "session:"
_ACCOUNT_PREFIX = "account-sessions:"
_SID_PREFIX = "provider-session:"
TOUCH_EVERY = 60  # seconds (a tenth of the idle timeout when that is shorter)
EARLIER_SIDS_KEPT = 8


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _key(sid: str) -> str:
    return _PREFIX + _digest(sid)


def _store(app: Flask | None = None) -> ShortLivedStore:
    return (app or current_app).extensions["idp.store"]


def _lifetimes(app: Flask | None = None) -> tuple[int, int]:
    """The session's absolute lifetime and its idle timeout, in seconds."""
    oidc = (app or current_app).config["IDP"]["oidc"]
    return int(oidc["session_ttl"]), int(oidc["session_idle_timeout"])


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, sid: str | None = None, data: dict[str, Any] | None = None, *,
                 deadline: float = 0.0, touched: float = 0.0,
                 store_error: bool = False) -> None:
        def on_update(_self: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.new = sid is None  # not in the store yet
        self.sid = sid or secrets.token_urlsafe(32)
        self.previous_sid: str | None = None
        self.modified = False
        self.store_error = store_error
        self.deadline = deadline  # Unix time of the absolute end; 0 until first stored
        self.touched = touched  # when its expiry in the store was last pushed back

    def regenerate(self, restart: bool = False) -> None:
        """Give the session a new id, dropping the old one from the store; with `restart`
        (a login, a logout) its absolute lifetime starts again."""
        self.previous_sid = self.previous_sid or self.sid
        self.sid = secrets.token_urlsafe(32)
        self.new = self.modified = True
        if restart:
            self.deadline = 0.0


class StoreSessionInterface(SessionInterface):
    def _cookie(self, app: Flask) -> str:
        return SECURE_COOKIE_NAME if app.config["SESSION_COOKIE_SECURE"] else COOKIE_NAME

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self._cookie(app))
        if not sid:
            return ServerSession()
        try:
            stored = _store(app).get(_key(sid))
        except StoreUnavailable:
            app.logger.error("session store unavailable")
            return ServerSession(sid=sid, store_error=True)
        # Expired, unknown, or kept by a version without lifetimes: start afresh.
        if not isinstance(stored, dict) or stored.get("deadline", 0) <= time.time():
            return ServerSession()
        return ServerSession(sid=sid, data=stored["data"], deadline=stored["deadline"],
                             touched=stored["touched"])

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.store_error:
            return
        try:
            self._save(app, _store(app), session, response)
            if session.previous_sid:
                # Last: a refresh looking for the session meanwhile finds the new id,
                # never a gap that would look like the session's end.
                _store(app).delete(_key(session.previous_sid))
        except StoreUnavailable as exc:
            # Too late for the error handlers (the view has answered, Flask would make
            # it a 500): the answer becomes theirs, a 503, since the session is lost.
            failed = app.make_response(app.handle_user_exception(exc))
            response.status_code, response.headers = failed.status_code, failed.headers
            response.set_data(failed.get_data())

    def _save(self, app: Flask, store: ShortLivedStore, session: ServerSession,
              response: Response) -> None:
        if not session:
            if session.modified:  # emptied by this request (a logout)
                store.delete(_key(session.sid))
                self._forget(app, response)
            return
        now = time.time()
        absolute, idle = _lifetimes(app)
        session.deadline = session.deadline or now + absolute
        remaining = session.deadline - now
        if remaining <= 0:  # its lifetime ran out during this request
            store.delete(_key(session.sid))
            self._forget(app, response)
            return
        due = not session.new and now - session.touched >= min(TOUCH_EVERY, idle / 10)
        if not (session.modified or due):
            return
        stored = {"data": dict(session), "deadline": session.deadline, "touched": now}
        ttl = math.ceil(min(idle, remaining))
        if session.new:
            store.put(_key(session.sid), stored, ttl)
            _index_login(store, session, math.ceil(remaining))
        elif not store.replace(_key(session.sid), stored, ttl):
            return  # ended meanwhile (a logout, a password reset, the idle timeout)
        response.set_cookie(self._cookie(app), session.sid, max_age=math.ceil(remaining),
                            path="/", secure=app.config["SESSION_COOKIE_SECURE"],
                            httponly=True, samesite="Lax")

    def _forget(self, app: Flask, response: Response) -> None:
        response.delete_cookie(self._cookie(app), path="/", httponly=True, samesite="Lax",
                               secure=app.config["SESSION_COOKIE_SECURE"])


def _index_login(store: ShortLivedStore, session: ServerSession, ttl: int) -> None:
    """Record a signed-in session, stored under a new id, in the two indexes."""
    data = session.get("login")
    if not data:
        return
    login = LoginState(**data)
    digest = _digest(session.sid)
    store.add_member(_ACCOUNT_PREFIX + str(login.account_id), digest, ttl)
    for sid in login.sids:
        store.put(_SID_PREFIX + sid, {"session": digest, "deadline": session.deadline}, ttl)


# --- login state ----------------------------------------------------------------------

@dataclass
class LoginState:
    """Who is signed in to the provider in this browser, and how."""

    account_id: int
    auth_time: int
    amr: list[str]
    acr: str
    sid: str  # the OIDC session id shared with clients (not the cookie value)
    clients: list[str] = field(default_factory=list)
    # The sids of this person's earlier logins in this browser (prompt=login, max_age):
    # their applications' grants live on with the session, and end with it.
    earlier_sids: list[str] = field(default_factory=list)

    @property
    def sids(self) -> list[str]:
        """Every OIDC session id this browser session stands for, newest first."""
        return [self.sid, *self.earlier_sids]


def current_login() -> LoginState | None:
    data = session.get("login")
    if not data:
        return None
    return LoginState(**data)


def start_login(account_id: int, amr: list[str], acr: str = ACR_BASIC) -> LoginState:
    """Record a successful authentication; the session gets a new id, a new OIDC sid and
    its whole lifetime again.

    Everything else is dropped except the authorization requests under way, which the
    login is meant to complete, and, when the same person signs in again, the sids of
    the earlier logins (the few latest: a session does not grow for ever).
    """
    previous = current_login()
    pending = session.get("interactions", [])
    session.clear()
    if pending:
        session["interactions"] = pending
    assert isinstance(session, ServerSession)
    session.regenerate(restart=True)
    earlier = previous.sids[:EARLIER_SIDS_KEPT] \
        if previous and previous.account_id == account_id else []
    state = LoginState(account_id=account_id, auth_time=int(time.time()), amr=amr, acr=acr,
                       sid=secrets.token_urlsafe(24), earlier_sids=earlier)
    session["login"] = asdict(state)
    return state


def remember_client(client_id: str) -> None:
    """Note that a client received tokens in this session (for logout)."""
    state = current_login()
    if state and client_id not in state.clients:
        state.clients.append(client_id)
        session["login"] = asdict(state)


def end_login() -> LoginState | None:
    """Sign out of this browser; the session goes on, anonymous, under a new id."""
    state = current_login()
    session.clear()
    assert isinstance(session, ServerSession)
    session.regenerate(restart=True)
    return state


def renew_session_id() -> None:
    """A new id for this browser's session, which goes on (rights changed: another
    profile, a new password)."""
    assert isinstance(session, ServerSession)
    session.regenerate()


def provider_session_alive(sid: str, activity: bool = False) -> bool:
    """Whether the provider session `sid` still lives in a browser. With `activity` (an
    application refreshing its tokens) it counts as a use, which postpones its idle end."""
    store = _store()
    link = store.get(_SID_PREFIX + sid)
    if not isinstance(link, dict):
        return False
    remaining = link["deadline"] - time.time()
    if remaining <= 0:
        return False
    key = _PREFIX + link["session"]
    if activity:
        return store.touch(key, math.ceil(min(_lifetimes()[1], remaining)))
    return store.get(key) is not None


def end_account_logins(account_id: int, keep_current: bool = False) -> list[LoginState]:
    """End the browser sessions where `account_id` is signed in, this one too unless
    `keep_current`; their login states, whose provider sessions the caller ends."""
    store = _store()
    kept = _digest(session.sid) if keep_current else None
    ended = []
    for digest in store.members(_ACCOUNT_PREFIX + str(account_id)):
        stored = store.get(_PREFIX + digest) if digest != kept else None
        data = stored["data"].get("login") if isinstance(stored, dict) else None
        if data and data["account_id"] == account_id:
            store.delete(_PREFIX + digest)
            login = LoginState(**data)
            for sid in login.sids:
                store.delete(_SID_PREFIX + sid)
            ended.append(login)
    return ended


def install(app: Flask) -> None:
    app.session_interface = StoreSessionInterface()

    @app.before_request
    def _session_must_work() -> None:
        if getattr(session, "store_error", False):
            raise StoreUnavailable("session store")
