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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, insert, select, update
from sqlalchemy.orm import joinedload

from idp.directory import rules
from idp.directory.enums import AccountState
from idp.directory.models import Account, Habilitation, Profile
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


@dataclass
class Subject:
    """The person and the selected profile behind a token (Authlib's `user`)."""

    account: Account
    profile: Profile | None
    grant: Grant

    def get_user_id(self) -> str:
        return self.account.identifier


def create_grant(code: AuthorizationCode) -> Grant:
    """The grant a code exchange makes, read back with its subject: one INSERT, one
    joined SELECT (the subject had to be read anyway)."""
    grant_id = secrets.token_hex(16)
    db.session.connection().execute(_NEW_GRANT, {
        "id": grant_id, "client_id": code.client_id,
        "offline": "offline_access" in code.scope.split(), **asdict(code.approval)})
    grant = active_grant(grant_id)
    assert grant is not None  # inserted just now, in this transaction
    return grant


def subject_for(grant: Grant, domains: Iterable[str]) -> Subject | None:
    """The person and profile behind an active grant, while they may still use it with
    the client registered for `domains`.

    Tokens never outlive the rights they carry: the profile must still pass the rule the
    login applied (`rules.may_use_for_client`: active, a role in the client's domains, no
    two exclusive roles there); otherwise the grant serves no code exchange, no refresh
    and no userinfo, and the person must sign in again and choose another profile.
    """
    account, profile = grant.account, grant.profile
    if account is None or not grant.active or account.state != AccountState.ACTIVE:
        return None
    if profile is not None and not rules.may_use_for_client(profile, domains):
        return None
    return Subject(account=account, profile=profile, grant=grant)


# The statements of the token paths, built once (SQLAlchemy still caches their SQL, but
# building them anew costs as much as running them).
_profile = joinedload(Grant.profile)
# With everything a token's claims and the rights check read, in the grant's one SELECT:
# the person, the profile, its entity, its habilitations and their roles.
_ACTIVE_GRANT_WITH_SUBJECT = select(Grant).where(
    Grant.id == bindparam("grant_id"), Grant.revoked_at.is_(None)).options(
    joinedload(Grant.account), _profile.joinedload(Profile.entity),
    _profile.joinedload(Profile.habilitations).joinedload(Habilitation.role))
# The statements that read or write no object are run on the session's connection, as
# plain SQL: the ORM's machinery for an UPDATE, or for an object flushed at the commit,
# costs more CPU than the database's work on them.
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
_IS_ACTIVE = select(_grants.id).where(_grants.id == bindparam("grant_id"),
                                      _grants.revoked_at.is_(None))
_NEW_TOKEN = insert(RefreshToken.__table__)
_NEW_GRANT = insert(Grant.__table__)


def active_grant(grant_id: str) -> Grant | None:
    """The grant if it is active, with its subject (the person, the profile, its entity,
    habilitations and roles) loaded in the same query."""
    return db.session.scalars(_ACTIVE_GRANT_WITH_SUBJECT,
                              {"grant_id": grant_id}).unique().one_or_none()


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


def _family_end(grant: Grant) -> datetime:
    return grant.created_at + timedelta(seconds=int(_settings()["refresh_family_max_age"]))


def issue_refresh_token(grant: Grant) -> str:
    token = secrets.token_urlsafe(48)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=int(_settings()["refresh_token_ttl"]))
    db.session.connection().execute(_NEW_TOKEN, {
        "token_hash": digest(token), "grant_id": grant.id, "issued_at": now,
        "expires_at": min(expires, _family_end(grant))})
    return token


def _refusal(grant: Grant) -> str | None:
    """Why a refresh family must end now that it is used, if it must: its absolute
    lifetime ran out, or the provider session it ends with is over. A refresh of a live
    session counts as its activity (the person is at work in the application)."""
    if _family_end(grant) <= datetime.now(UTC):
        return "refresh_family_expired"
    if not grant.offline and not (grant.sid and provider_session_alive(grant.sid,
                                                                        activity=True)):
        return "session_ended"
    return None


def claim_refresh_token(token: str, client_id: str) -> Grant | None:
    """Take `client_id`'s refresh token for rotation, atomically; its grant, with the
    subject loaded, or None if the token cannot be used.

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
