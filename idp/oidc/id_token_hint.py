"""The `id_token_hint` of authorization and logout requests: an ID token we issued.

It may have expired: a hint names a person and a session, it grants nothing. An access
token, a logout token or a signed userinfo response is not an ID token, even with our
signature: the first two are told by their `typ`, the last by the claims every ID token
has and a userinfo response never has (`iat`, `exp`, `auth_time`).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idp.oidc.capabilities import SIGNING_ALGORITHMS
from idp.oidc.signing import public_keyset

ID_TOKEN_TIMES = ("iat", "exp", "auth_time")  # in every ID token we sign


def hint_claims(token: str, client_id: str | None) -> dict[str, Any] | None:
    """The claims of an ID token we signed for `client_id` (for any client when None)."""
    try:
        decoded = jwt.decode(token, public_keyset(), algorithms=list(SIGNING_ALGORITHMS))
    except (JoseError, ValueError, TypeError):
        return None
    claims = decoded.claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if (decoded.header.get("typ", "JWT") != "JWT"
            or claims.get("iss") != current_app.config["IDP"]["server"]["issuer"]
            or (client_id and client_id not in audiences)
            or not isinstance(claims.get("sub"), str)
            or not all(isinstance(claims.get(name), int) for name in ID_TOKEN_TIMES)):
        return None
    return dict(claims)


def hint_subject(token: str, client_id: str | None) -> str | None:
    """The `sub` (account identifier) of an ID token we signed for `client_id`."""
    claims = hint_claims(token, client_id)
    return claims["sub"] if claims else None
