"""Grants (token families), refresh tokens and authorization codes: issue, rotate, revoke.

Authorization codes are short-lived and single use: they live in the short-lived store
(under their SHA-256, the code itself nowhere) and are taken with an atomic `pop`. A
marker remembers which grant a used code produced, so that replaying the code revokes
that grant (RFC 6749 §4.1.2, RFC 9700 §4.5).

A refresh family ends `oidc.refresh_family_max_age` after its code exchange however
often it was rotated, and, without offline_access, with the provider session it was
made in: when that session ended (logout, password reset) its grants were revoked; when
it merely ran out (lifetime, idle timeout), the next refresh finds it gone and revokes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, insert, select, update

from idp.directory import services
from idp.directory.models import Account
from idp.extensions import db
from idp.oidc.models import Grant, RefreshToken
from idp.ops import metrics
from idp.store import ShortLivedStore
from idp.web.session import provider_session_alive

CODE_PREFIX = "code:"
USED_CODE_PREFIX = "code-used:"
# How long a used code is remembered for replay detection.
USED_CODE_MEMORY = 24 * 3600


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _store() -> ShortLivedStore:
    return current_app.extensions["idp.store"]


def _settings() -> dict[str, Any]:
    return current_app.config["IDP"]["oidc"]


@dataclass
class Approval:
    """What the person approved at the authorization endpoint (Authlib's `grant_user`);
    the grant made at the code exchange copies it."""

    account_id: int
    profile_id: int
    scope: str
    sid: str
    auth_time: int
    acr: str
    amr: list[str]
    claims_request: dict[str, Any] | None = None


@dataclass
class AuthorizationCode(Approval):
    """What a code stands for; implements the accessors Authlib's grants call."""

    code: str = ""
    client_id: str = ""
    redirect_uri: str = ""
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    @property
    def approval(self) -> Approval:
        return Approval(**{f.name: getattr(self, f.name) for f in fields(Approval)})

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


def save_code(code: AuthorizationCode) -> None:
    data = {**asdict(code), "code": ""}  # whoever reads the store learns no usable code
    _store().put(CODE_PREFIX + digest(code.code), data, int(_settings()["code_ttl"]))


def take_code(code: str, client_id: str) -> AuthorizationCode | None:
    """The code's data, once. A replayed code revokes the grant it produced; another
    client's code is refused and left for its rightful client."""
    key = CODE_PREFIX + digest(code)
    waiting = _store().get(key)
    if waiting is not None and waiting["client_id"] != client_id:
        return None
    data = _store().pop(key)
    if data is None:
        grant_id = _store().get(USED_CODE_PREFIX + digest(code))
        if grant_id:
            revoke_grant(grant_id, "code_replay")
            db.session.commit()
        return None
    return AuthorizationCode(**{**data, "code": code})


def remember_code_use(code: str, grant_id: str) -> None:
    _store().put(USED_CODE_PREFIX + digest(code), grant_id, USED_CODE_MEMORY)


# The counters a subject is kept under: the account's rights version, the directory's epoch.
Rights = tuple[int, int | None]


@dataclass(frozen=True)
class GrantRow:
    """An active grant as the token paths read it (one plain SELECT, no ORM object),
    with the counters its subject is kept under in memory (`idp.oidc.subjects`): the
    account's rights version and the directory's epoch."""

    id: str
    client_id: str
    account_id: int
    profile_id: int | None
    scope: str
    sid: str | None
    auth_time: int | None
    acr: str | None
    amr: list[str]
    claims_request: dict[str, Any] | None
    offline: bool
    created_at: datetime
    rights: Rights


def create_grant(code: AuthorizationCode) -> GrantRow:
    """The grant a code exchange makes: one INSERT, read back with its counters."""
    grant_id = secrets.token_hex(16)
    db.session.connection().execute(_NEW_GRANT, {
        "id": grant_id, "client_id": code.client_id,
        "offline": "offline_access" in code.scope.split(), **asdict(code.approval)})
    grant = active_grant(grant_id)
    assert grant is not None  # inserted just now, in this transaction
    return grant


# The statements of the token paths, built once (SQLAlchemy still caches their SQL, but
# building them anew costs as much as running them). They are run on the session's
# connection, as plain SQL: the ORM's machinery for an UPDATE, for an object flushed at
# the commit or for a row read into an object costs more CPU than the database's work.
_tokens = RefreshToken.__table__.c
_grants = Grant.__table__.c
_CLAIM = (
    update(RefreshToken.__table__)
    .where(_tokens.token_hash == bindparam("hash"), _tokens.used_at.is_(None),
           _tokens.expires_at > bindparam("claimed_at"),
           _tokens.grant_id.in_(select(_grants.id).where(
               _grants.client_id == bindparam("client_id"), _grants.revoked_at.is_(None))))
    .values(used_at=bindparam("claimed_at"))
    .returning(_tokens.grant_id)
)
_accounts = Account.__table__.c
_ACTIVE_GRANT = (
    select(*(_grants[field.name] for field in fields(GrantRow) if field.name != "rights"),
           _accounts.rights_version, services.EPOCH.scalar_subquery())
    .join_from(Grant.__table__, Account.__table__, _grants.account_id == _accounts.id)
    .where(_grants.id == bindparam("grant_id"), _grants.revoked_at.is_(None))
)
_IS_ACTIVE = select(_grants.id).where(_grants.id == bindparam("grant_id"),
                                      _grants.revoked_at.is_(None))
_NEW_TOKEN = insert(RefreshToken.__table__)
_NEW_GRANT = insert(Grant.__table__)


def active_grant(grant_id: str) -> GrantRow | None:
    """The grant if it is active."""
    row = db.session.connection().execute(_ACTIVE_GRANT, {"grant_id": grant_id}).first()
    return None if row is None else GrantRow(*row[:-2], rights=(row[-2], row[-1]))


def is_active(grant_id: str) -> bool:
    return db.session.connection().execute(
        _IS_ACTIVE, {"grant_id": grant_id}).first() is not None


def revoke_grant(grant_id: str, reason: str) -> None:
    db.session.execute(
        update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
    )


def revoke_session_grants(sid: str, reason: str = "logout") -> list[Grant]:
    """Revoke the grants of a provider session, except offline ones (offline_access)."""
    return _revoke_active(reason, Grant.sid == sid, Grant.offline.is_(False))


def revoke_client_grants(account_id: int, client_id: str, reason: str) -> list[Grant]:
    """Revoke every grant of a person to a client, offline ones included."""
    return _revoke_active(reason, Grant.account_id == account_id, Grant.client_id == client_id)


def revoke_profile_grants(profile_id: int, reason: str) -> list[Grant]:
    """Revoke every grant made with a profile, offline ones included (the rights they
    carried are gone)."""
    return _revoke_active(reason, Grant.profile_id == profile_id)


def revoke_account_grants(account_id: int, reason: str) -> list[Grant]:
    """Revoke every grant of a person, offline ones included (his account closes)."""
    return _revoke_active(reason, Grant.account_id == account_id)


def _revoke_active(reason: str, *conditions: ColumnElement[bool]) -> list[Grant]:
    grants = list(db.session.scalars(
        select(Grant).where(Grant.revoked_at.is_(None), *conditions)
    ))
    now = datetime.now(UTC)
    for grant in grants:
        grant.revoked_at, grant.revoked_reason = now, reason
    return grants


def online_sids(account_id: int) -> set[str]:
    """The provider sessions in which the person holds grants that end with them (no
    offline_access) and are still active."""
    return set(db.session.scalars(select(Grant.sid).where(
        Grant.account_id == account_id, Grant.revoked_at.is_(None), Grant.offline.is_(False),
        Grant.sid.is_not(None)).distinct()))


def session_client_ids(sid: str) -> list[str]:
    """The clients that obtained grants in provider session `sid`."""
    return list(db.session.scalars(
        select(Grant.client_id).where(Grant.sid == sid).distinct().order_by(Grant.client_id)
    ))


def _family_end(grant: GrantRow) -> datetime:
    return grant.created_at + timedelta(seconds=int(_settings()["refresh_family_max_age"]))


def issue_refresh_token(grant: GrantRow) -> str:
    token = secrets.token_urlsafe(48)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=int(_settings()["refresh_token_ttl"]))
    db.session.connection().execute(_NEW_TOKEN, {
        "token_hash": digest(token), "grant_id": grant.id, "issued_at": now,
        "expires_at": min(expires, _family_end(grant))})
    return token


def _refusal(grant: GrantRow) -> str | None:
    """Why a refresh family must end now that it is used, if it must: its absolute
    lifetime ran out, or the provider session it ends with is over. A refresh of a live
    session counts as its activity (the person is at work in the application)."""
    if _family_end(grant) <= datetime.now(UTC):
        return "refresh_family_expired"
    if not grant.offline and not (grant.sid and provider_session_alive(grant.sid,
                                                                        activity=True)):
        return "session_ended"
    return None


def claim_refresh_token(token: str, client_id: str) -> GrantRow | None:
    """Take `client_id`'s refresh token for rotation, atomically; its grant, or None if
    the token cannot be used.

    One `UPDATE … RETURNING` claims a live, unused token of an active grant of this
    client. When it claims nothing, the token is read to tell why: another client's token
    is refused without being spent; a token already exchanged is a reuse (a leaked
    token, RFC 9700 §4.14): the whole family is revoked, so neither the thief nor the
    client can go on with it. So is a family past its end (`_refusal`).
    """
    now = datetime.now(UTC)
    token_hash = digest(token)
    grant_id = db.session.connection().execute(_CLAIM, {
        "hash": token_hash, "claimed_at": now, "client_id": client_id}).scalar_one_or_none()
    if grant_id is None:
        _detect_reuse(token_hash, client_id, now)
        return None
    grant = active_grant(grant_id)
    if grant is None:
        return None  # revoked in the meantime
    refusal = _refusal(grant)
    if refusal is not None:
        revoke_grant(grant_id, refusal)
        db.session.commit()
        return None
    return grant


def _detect_reuse(token_hash: str, client_id: str, now: datetime) -> None:
    row = db.session.get(RefreshToken, token_hash)
    if (row is not None and row.used_at is not None and row.expires_at > now
            and row.grant.client_id == client_id and row.grant.active):
        metrics.refresh_token_reused()
        revoke_grant(row.grant_id, "refresh_token_reuse")
        db.session.commit()
