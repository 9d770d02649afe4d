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
from idp.oidc.models import Grant
from idp.oidc.signing import public_keyset
from idp.store import ShortLivedStore

# Access tokens issued without a grant (client_credentials) and revoked, by jti.
REVOKED_PREFIX = "revoked-access-token:"


def verify_access_token(token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired, unrevoked access token we signed; else None."""
    verified = verify_with_grant(token)
    return verified[0] if verified else None


def verify_with_grant(token: str, with_subject: bool = False
                      ) -> tuple[dict[str, Any], Grant | None] | None:
    """`verify_access_token`'s claims with the active grant behind them (None for a
    client_credentials token), its subject loaded in the same query if `with_subject`."""
    try:
        decoded = jwt.decode(token, public_keyset(), algorithms=[ACCESS_TOKEN_ALGORITHM])
    except (JoseError, ValueError, TypeError):
        return None
    if decoded.header.get("typ") != "at+jwt":
        return None  # an ID token is not an access token
    claims = decoded.claims
    now = int(time.time())
    if claims.get("iss") != current_app.config["IDP"]["server"]["issuer"]:
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return None
    grant_id = claims.get("grant_id")
    if grant_id is None:
        revoked = _store().get(REVOKED_PREFIX + str(claims.get("jti")))
        return None if revoked else (dict(claims), None)
    grant = grants_store.active_grant(str(grant_id), with_subject)
    return None if grant is None else (dict(claims), grant)


def revoke_grantless_token(claims: dict[str, Any]) -> None:
    """Revoke an access token that no grant stands behind (client_credentials): its jti
    is remembered until it expires, so that introspection says it is no longer active."""
    ttl = int(claims["exp"]) - int(time.time()) + 1
    if ttl > 0:
        _store().put(REVOKED_PREFIX + str(claims.get("jti")), 1, ttl)


def _store() -> ShortLivedStore:
    return current_app.extensions["idp.store"]
