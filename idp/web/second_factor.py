"""The state between the login page and the second factor's page, and remembered devices.

- A *pending* second factor: the password was right (or, for a step-up, the person is
  signed in at too low a level) and the code is awaited. It lives in the server-side
  session for `PENDING_TTL` seconds and names the account and where to go next; nobody
  is signed in by it.
- A passkey *ceremony*: the challenge the browser's authenticator must sign, issued to
  this session for one purpose (registering, a second factor, a sign-in without
  password). It lives in the short-lived store as long as the browser's prompt under a handle
  only this session knows, and is taken once (an atomic pop): a replayed answer, or one
  made for another session or purpose, finds nothing.
- A *remembered device*: a cookie signed with the application's secret that names the
  account, its enrolment and its password (`stamp`), valid
  `security.remembered_device_days`; on that
  browser the password alone signs the person in again at the basic level (`eidas1`),
  and an application that requires `eidas2` still gets a code typed.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import asdict, dataclass

from flask import current_app, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from idp.store import ShortLivedStore
from idp.web.session import renew_session_id

_CEREMONY_KEY = "passkey_ceremony"
PENDING_TTL = 300  # seconds to type the code after the password
_PENDING_KEY = "second_factor"
DEVICE_COOKIE = "plage_appareil"
SECURE_DEVICE_COOKIE = "__Host-" + DEVICE_COOKIE


@dataclass(frozen=True)
class Pending:
    account_id: int
    next_url: str
    step_up: bool  # signed in already: only the second factor is asked
    since: float


def await_second_factor(account_id: int, next_url: str, *, step_up: bool = False) -> None:
    """Half signed in: the session gets a new id (it is worth one code now)."""
    renew_session_id()
    session[_PENDING_KEY] = asdict(Pending(account_id, next_url, step_up, time.time()))


def pending_second_factor() -> Pending | None:
    data = session.get(_PENDING_KEY)
    if not data or data["since"] + PENDING_TTL < time.time():
        return None
    return Pending(**data)


def forget_second_factor() -> None:
    session.pop(_PENDING_KEY, None)


# --- passkey ceremonies ---------------------------------------------------------------


def _store() -> ShortLivedStore:
    return current_app.extensions["idp.store"]


def issue_challenge(purpose: str, ttl: int) -> bytes:
    """A new challenge (32 random bytes) for `purpose`, valid `ttl` seconds, replacing
    this session's earlier one."""
    challenge, handle = secrets.token_bytes(32), secrets.token_urlsafe(24)
    session[_CEREMONY_KEY] = handle
    _store().put(f"passkey-challenge:{handle}", {
        "purpose": purpose, "challenge": base64.urlsafe_b64encode(challenge).decode()},
        ttl)
    return challenge


def take_challenge(purpose: str) -> bytes | None:
    """The challenge issued to this session for `purpose`, once; None if there is none
    (never issued, expired, taken already, or issued for something else)."""
    handle = session.pop(_CEREMONY_KEY, None)
    stored = _store().pop(f"passkey-challenge:{handle}") if isinstance(handle, str) else None
    if not isinstance(stored, dict) or stored.get("purpose") != purpose:
        return None
    return base64.urlsafe_b64decode(stored["challenge"])


# --- remembered devices ---------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="remembered-device")


def _cookie_name() -> str:
    return SECURE_DEVICE_COOKIE if current_app.config["SESSION_COOKIE_SECURE"] \
        else DEVICE_COOKIE


def _lifetime() -> int:
    return int(current_app.config["IDP"]["security"]["remembered_device_days"]) * 86400


def devices_remembered() -> bool:
    """Whether the option is offered (`security.remembered_device_days` > 0)."""
    return _lifetime() > 0


def remember_device(response: Response, account_id: int, stamp: str) -> None:
    response.set_cookie(_cookie_name(), _serializer().dumps([account_id, stamp]),
                        max_age=_lifetime(), path="/", httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])


def is_remembered_device(account_id: int, stamp: str) -> bool:
    """This browser holds a valid cookie for this account and this enrolment."""
    value = request.cookies.get(_cookie_name())
    if not value or not devices_remembered():
        return False
    try:
        remembered = _serializer().loads(value, max_age=_lifetime())
    except BadSignature:  # forged, or expired (SignatureExpired is a BadSignature)
        return False
    return remembered == [account_id, stamp]
