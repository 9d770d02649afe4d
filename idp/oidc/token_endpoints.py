"""Introspection (RFC 7662) and revocation (RFC 7009), for confidential clients.

Both accept our JWT access tokens and our refresh tokens. Revoking either revokes the
grant behind it, hence the whole refresh family and every access token it produced; an
access token without a grant (client_credentials) is revoked by itself. Introspection
then answers `active: false`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.clients.models import Client
from idp.extensions import db
from idp.oidc import grants_store
from idp.oidc.capabilities import CONFIDENTIAL_AUTH_METHODS
from idp.oidc.models import RefreshToken
from idp.oidc.tokens import revoke_grantless_token, verify_access_token


@dataclass
class TokenInfo:
    """An access or refresh token found by its value."""

    kind: str  # "access_token" | "refresh_token"
    client_id: str
    grant_id: str | None
    claims: dict[str, Any]

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def is_expired(self) -> bool:
        return False  # lookups only return live tokens

    def is_revoked(self) -> bool:
        return False


def find_token(value: str, hint: str | None) -> TokenInfo | None:
    order = ["refresh_token", "access_token"] if hint == "refresh_token" else [
        "access_token", "refresh_token"]
    for kind in order:
        found = _find_access(value) if kind == "access_token" else _find_refresh(value)
        if found is not None:
            return found
    return None


def _find_access(value: str) -> TokenInfo | None:
    claims = verify_access_token(value)
    if claims is None:
        return None
    return TokenInfo("access_token", claims["client_id"], claims.get("grant_id"), claims)


def _find_refresh(value: str) -> TokenInfo | None:
    row = db.session.get(RefreshToken, grants_store.digest(value))
    if (row is None or row.used_at is not None or not row.grant.active
            or row.expires_at <= datetime.now(UTC)):
        return None
    grant = row.grant
    claims = {
        "scope": grant.scope, "client_id": grant.client_id,
        "sub": grant.account.identifier if grant.account else grant.client_id,
        "exp": int(row.expires_at.timestamp()), "iat": int(row.issued_at.timestamp()),
        "sid": grant.sid,
    }
    return TokenInfo("refresh_token", grant.client_id, grant.id, claims)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(CONFIDENTIAL_AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenInfo | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: TokenInfo, client: Client, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: TokenInfo) -> dict[str, Any]:
        keep = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "sid",
                "auth_time", "acr", "profile", "entity", "roles")
        payload = {k: token.claims[k] for k in keep if k in token.claims}
        payload.update(active=True, token_type="Bearer" if token.kind == "access_token"
                       else "refresh_token")
        return payload


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(CONFIDENTIAL_AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenInfo | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenInfo, request: Any) -> None:
        if token.grant_id:
            grants_store.revoke_grant(token.grant_id, "revoked_by_client")
            db.session.commit()
        else:  # client_credentials: no grant to revoke, the token itself is
            revoke_grantless_token(token.claims)
