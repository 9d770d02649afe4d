"""Validating the provider's tokens: ID tokens, JWT access tokens, logout tokens.

Every token is checked the same way first: an algorithm of the allow-list (never
`none`, never HMAC), a key published by the provider for that algorithm, a valid
signature, our issuer, our audience, and times within a small leeway. Each kind of token
then has its own type (`typ`) and claims, so one kind cannot pass for another.

`validate_access_token` needs no Flask: an API calls it with the bearer token it got.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Sequence
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from idp.rp.errors import InvalidToken
from idp.rp.provider import Provider, provider_for

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
LEEWAY = 60  # seconds of clock skew tolerated on exp, iat and nbf
MAX_TOKEN_LENGTH = 16 * 1024
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

_ACCESS_TYPES = {"at+jwt", "application/at+jwt"}
_LOGOUT_TYPES = {"logout+jwt", "application/logout+jwt"}
_ID_TYPES = {None, "jwt", "application/jwt"}


def _decode(token: str, provider: Provider,
            algorithms: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a token signed by one of the provider's published keys."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("not a token")
    try:
        header = dict(jws.extract_compact(token.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidToken(f"malformed token: {exc}") from None
    alg = header.get("alg")
    allowed = [a for a in algorithms if a in ALGORITHMS]
    if alg not in allowed:
        raise InvalidToken(f"algorithm {alg!r} not allowed (allowed: {', '.join(allowed)})")
    key = provider.key_for(header)
    try:
        claims = jwt.decode(token, key, algorithms=[alg]).claims
    except (JoseError, ValueError) as exc:
        raise InvalidToken(f"bad signature or payload: {exc}") from None
    if not isinstance(claims, dict):
        raise InvalidToken("the payload is not a JSON object")
    return header, dict(claims)


def _check_type(header: dict[str, Any], accepted: set[str | None], what: str) -> None:
    typ = header.get("typ")
    if (typ.lower() if isinstance(typ, str) else typ) not in accepted:
        raise InvalidToken(f"typ {typ!r} is not that of {what}")


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return [a for a in audiences if isinstance(a, str)]


def _check_common(claims: dict[str, Any], issuer: str, audiences: Iterable[str],
                  leeway: int, *, exp_required: bool = True) -> None:
    """iss, aud, exp, iat, nbf (RFC 7519 §4.1, with `leeway` seconds of skew)."""
    if claims.get("iss") != issuer:
        raise InvalidToken(f"issuer {claims.get('iss')!r} is not {issuer!r}")
    if not set(_audiences(claims)) & set(audiences):
        raise InvalidToken(f"audience {claims.get('aud')!r} is not ours")
    now = time.time()
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    if exp_required or exp is not None:
        if not _is_time(exp):
            raise InvalidToken("exp missing or not a number")
        if now > exp + leeway:
            raise InvalidToken("the token has expired")
    if not _is_time(iat):
        raise InvalidToken("iat missing or not a number")
    if iat > now + leeway:
        raise InvalidToken("the token is issued in the future")
    if nbf is not None and (not _is_time(nbf) or nbf > now + leeway):
        raise InvalidToken("the token is not valid yet")


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def token_hash(value: str) -> str:
    """at_hash of an access token for RS256/ES256: left half of its SHA-256, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def validate_id_token(token: str, provider: Provider, client_id: str, *,
                      nonce: str | None, access_token: str | None = None,
                      leeway: int = LEEWAY,
                      algorithms: Sequence[str] = ALGORITHMS) -> dict[str, Any]:
    """The claims of an ID token for `client_id` (OIDC Core 3.1.3.7).

    `nonce` is the one sent in the authorization request (None only for an ID token
    from a refresh, which carries none); `access_token`, when given, must match the
    token's `at_hash`.
    """
    header, claims = _decode(token, provider, algorithms)
    _check_type(header, _ID_TYPES, "an ID token")
    _check_common(claims, provider.issuer, [client_id], leeway)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("sub missing")
    azp_needed = len(_audiences(claims)) > 1 or "azp" in claims
    if azp_needed and claims.get("azp") != client_id:
        raise InvalidToken("azp is not our client_id")
    if nonce is not None:
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, nonce):
            raise InvalidToken("nonce does not match the authorization request")
    if access_token is not None and "at_hash" in claims:
        at_hash = claims["at_hash"]
        if not isinstance(at_hash, str) or not hmac.compare_digest(
                at_hash, token_hash(access_token)):
            raise InvalidToken("at_hash does not match the access token")
    return claims


def validate_access_token(token: str, issuer: str, audience: str | Iterable[str], *,
                          provider: Provider | None = None, leeway: int = LEEWAY,
                          algorithms: Sequence[str] = ALGORITHMS,
                          required_scopes: Iterable[str] = ()) -> dict[str, Any]:
    """The claims of a JWT access token (RFC 9068) issued by `issuer` for `audience`.

    No Flask needed: an API calls it with the bearer token of a request. The provider's
    keys are fetched and cached per issuer. Raises `InvalidToken` (say 401 to the
    caller). Offline validation cannot see a revocation before `exp` (tokens are short).
    """
    provider = provider or provider_for(issuer)
    if provider.issuer != issuer:
        raise ValueError("the provider given is not that of the issuer")
    audiences = [audience] if isinstance(audience, str) else list(audience)
    header, claims = _decode(token, provider, algorithms)
    _check_type(header, _ACCESS_TYPES, "an access token")
    _check_common(claims, issuer, audiences, leeway)
    for name in ("sub", "client_id", "jti"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise InvalidToken(f"{name} missing")
    missing = set(required_scopes) - set(str(claims.get("scope", "")).split())
    if missing:
        raise InvalidToken(f"scope {' '.join(sorted(missing))} not granted")
    return claims


def validate_logout_token(token: str, provider: Provider, client_id: str, *,
                          leeway: int = LEEWAY,
                          algorithms: Sequence[str] = ALGORITHMS) -> dict[str, Any]:
    """The claims of a back-channel logout token (OIDC Back-Channel Logout 1.0 §2.6)."""
    header, claims = _decode(token, provider, algorithms)
    _check_type(header, _LOGOUT_TYPES, "a logout token")
    _check_common(claims, provider.issuer, [client_id], leeway, exp_required=False)
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT),
                                                      dict):
        raise InvalidToken("not a back-channel logout event")
    if "nonce" in claims:
        raise InvalidToken("a logout token carries no nonce")
    if not isinstance(claims.get("jti"), str):
        raise InvalidToken("jti missing")
    if not any(isinstance(claims.get(name), str) and claims[name] for name in ("sub", "sid")):
        raise InvalidToken("neither sub nor sid")
    return claims
