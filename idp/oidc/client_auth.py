"""Client authentication at the token, introspection and revocation endpoints.

Authlib tries the methods a grant or endpoint allows one after the other and takes the
first that succeeds. The rules it leaves to us:
- one method per request (RFC 6749 §2.3): HTTP Basic and a `client_secret` in the body,
  or a Basic header and a `client_assertion`, is a malformed request, not a choice;
- a `client_id` in the body names the client that authenticated (the Basic user, the
  assertion's `sub`), or the request is malformed;
- `private_key_jwt` (RFC 7523) answers `invalid_client` for an assertion naming a client
  without usable keys, or nested too deeply to parse, where Authlib lets the error out.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.clients.models import Client
from idp.oidc.capabilities import PRIVATE_KEY_JWT


def presented_methods(request: OAuth2Request) -> list[str]:
    """The kinds of client credentials the request carries."""
    header = request.headers.get("Authorization", "").split(None, 1)
    basic = bool(header) and header[0].lower() == "basic"
    form = request.form
    return [method for method, present in (
        ("client_secret_basic", basic),
        ("client_secret_post", "client_secret" in form),
        (PRIVATE_KEY_JWT, "client_assertion" in form or "client_assertion_type" in form),
    ) if present]


def check_single_method(request: OAuth2Request) -> None:
    if len(presented_methods(request)) > 1:
        raise InvalidRequestError(
            "Only one client authentication method may be used in a request.")


def check_client_id(request: OAuth2Request, client: Client) -> None:
    named = request.form.get("client_id")
    if named is not None and named != client.client_id:
        raise InvalidRequestError("The client_id does not match the authenticated client.")


class PrivateKeyJwt(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def get_audiences(self) -> list[str]:
        base = current_app.config["IDP"]["server"]["issuer"]
        return [base, base + "/token", base + "/introspect", base + "/revoke"]

    def extract_assertion(self, assertion: str) -> Any:
        try:
            return super().extract_assertion(assertion)
        except RecursionError:  # a payload nested a thousand levels: not a JWT of ours
            raise InvalidClientError(description="Invalid JWT payload.") from None

    def resolve_client_public_key(self, client: Client) -> KeySet:
        try:
            return KeySet.import_key_set(client.jwks or {})
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidClientError(
                description="The client has no usable registered keys.") from None

    def validate_jti(self, claims: Any, jti: str) -> bool:
        ttl = max(60, int(claims.get("exp", 0)) - int(time.time()) + 60)
        return current_app.extensions["idp.store"].add(
            f"client-assertion:{claims['iss']}:{jti}", 1, ttl
        )
