"""A relying application, as Authlib's authorization server sees it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.clock import utcnow
from idp.extensions import UTCDateTime, db
from idp.oidc.capabilities import (
    AUTHORIZATION_CODE,
    DEFAULT_CONFIDENTIAL_AUTH_METHOD,
    DEFAULT_GRANT_TYPES,
    DEFAULT_SIGNING_ALGORITHM,
    PUBLIC_AUTH_METHOD,
    RESPONSE_TYPES,
    SCOPES,
)


def hash_client_secret(secret: str) -> str:
    """Client secrets are 256-bit random strings: a plain SHA-256 suffices (no dictionary
    to attack) and keeps the token endpoint fast, unlike a password hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Client(db.Model, ClientMixin):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    # The application domains (ANCRE, TDBESMS...) whose roles the tokens carry.
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default=DEFAULT_CONFIDENTIAL_AUTH_METHOD)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(DEFAULT_GRANT_TYPES))
    allowed_scopes: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(SCOPES))
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    id_token_signed_response_alg: Mapped[str] = mapped_column(
        String(16), default=DEFAULT_SIGNING_ALGORITHM)
    userinfo_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    # Public keys for private_key_jwt client authentication.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The assurance level every login to this client must reach (None: any, eidas1).
    required_acr: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC_AUTH_METHOD

    # --- Authlib's ClientMixin ----------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Exact matching: with several URIs registered the request must name one.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        allowed = set(self.allowed_scopes)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact string comparison (RFC 9700)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret_hash or not client_secret:
            return False
        return hmac.compare_digest(self.client_secret_hash, hash_client_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        # introspection and revocation: confidential clients only
        return not self.is_public and method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in RESPONSE_TYPES and AUTHORIZATION_CODE in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def get_client_secret(self) -> str:
        # Only used by client_secret_jwt, which we do not offer (secrets are stored hashed).
        return ""
