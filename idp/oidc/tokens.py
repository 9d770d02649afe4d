"""Checking the access tokens we issued (userinfo, introspection, revocation), and
revoking those that no grant stands behind."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idp.oidc import grants_store
from idp.oidc.capabilities import ACCESS_TOKEN_ALGORITHM
from idp.oidc.grants_store import GrantRow
from idp.oidc.signing import public_keyset
from idp.store import ShortLivedStore

# Access tokens issued without a grant (client_credentials) and revoked, by jti.
REVOKED_PREFIX = "revoked-access-token:"


def verify_access_token(token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired, unrevoked access token we signed; else None."""
    claims = _live_claims(token)
    grant_id = claims.get("grant_id") if claims is not None else None
    if grant_id is not None and not grants_store.is_active(str(grant_id)):
        return None
    return claims


def verify_with_grant(token: str) -> tuple[dict[str, Any], GrantRow | None] | None:
    """`verify_access_token`'s claims with the active grant behind them (None for a
    client_credentials token)."""
    claims = _live_claims(token)
    if claims is None:
        return None
    grant_id = claims.get("grant_id")
    if grant_id is None:
        return claims, None
    grant = grants_store.active_grant(str(grant_id))
    return None if grant is None else (claims, grant)


def _live_claims(token: str) -> dict[str, Any] | None:
    """The claims of an unexpired access token we signed, unless it was revoked by
    itself (a token with a grant is revoked with its grant: the callers check it)."""
    try:
        decoded = jwt.decode(token, public_keyset(), algorithms=[ACCESS_TOKEN_ALGORITHM])
    except (JoseError, ValueError, TypeError):
        return None
    if decoded.header.get("typ") != "at+jwt":
        return None  # an ID token is not an access token
    claims = decoded.claims
    if claims.get("iss") != current_app.config["IDP"]["server"]["issuer"]:
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= int(time.time()):
        return None
    if claims.get("grant_id") is None and _store().get(REVOKED_PREFIX + str(claims.get("jti"))):
        return None
    return dict(claims)


def revoke_grantless_token(claims: dict[str, Any]) -> None:
    """Revoke an access token that no grant stands behind (client_credentials): its jti
    is remembered until it expires, so that introspection says it is no longer active."""
    ttl = int(claims["exp"]) - int(time.time()) + 1
    if ttl > 0:
        _store().put(REVOKED_PREFIX + str(claims.get("jti")), 1, ttl)


def _store() -> ShortLivedStore:
    return current_app.extensions["idp.store"]
