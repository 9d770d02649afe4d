"""Checking the access tokens we issued (userinfo, introspection, revocation)."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idp.keys import service as keys
from idp.oidc import grants_store
from idp.oidc.capabilities import ACCESS_TOKEN_ALGORITHM


def verify_access_token(token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired, unrevoked access token we signed; else None."""
    try:
        decoded = jwt.decode(token, keys.public_keyset(), algorithms=[ACCESS_TOKEN_ALGORITHM])
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
    if grant_id is not None and grants_store.active_grant(grant_id) is None:
        return None
    return dict(claims)
