"""Authlib's authorization server wired to our stores: grants, token endpoint,
client authentication, introspection and revocation.

Our overrides stay thin: they translate between Authlib's hooks and the services in
`grants_store`, `idp.claims` and `idp.keys`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core.grants import OpenIDCode, OpenIDToken
from authlib.oidc.core.grants.util import is_openid_scope, validate_nonce
from flask import Flask, current_app
from joserfc.jwk import KeySet
from sqlalchemy import inspect, select

from idp.claims import release_claims, requested_claim_names
from idp.clients.models import Client
from idp.extensions import db
from idp.oidc import capabilities, client_auth, errors, grants_store, registry, subjects
from idp.oidc.grants_store import Approval, AuthorizationCode
from idp.oidc.signing import signing_keyset
from idp.oidc.subjects import Subject
from idp.oidc.token_endpoints import Introspection, Revocation
from idp.ops import metrics


def settings() -> dict[str, Any]:
    return current_app.config["IDP"]


def issuer() -> str:
    return settings()["server"]["issuer"]


def _load_client(client_id: str) -> Client | None:
    """An enabled client, as a copy bound to no session (the registry keeps it)."""
    row = db.session.scalar(
        select(Client).where(Client.client_id == client_id, Client.disabled.is_(False))
    )
    if row is None:
        return None
    return Client(**{column.key: getattr(row, column.key)
                     for column in inspect(Client).column_attrs})


def query_client(client_id: str | None) -> Client | None:
    # No client id holds a NUL, which PostgreSQL cannot compare (psycopg raises): ids
    # decoded from Basic credentials or an assertion's `sub` escape the request screening.
    if not client_id or not isinstance(client_id, str) or "\x00" in client_id:
        return None
    return registry.registry().cached(f"client:{client_id}", lambda: _load_client(client_id))


def subject_claims(subject: Subject, client: Client, scope: str, target: str) -> dict[str, Any]:
    """The identity claims of a token, an ID token or a userinfo response."""
    return release_claims(
        subject.claims,
        sub=subject.identifier,
        scopes=scope.split(),
        allowed_scopes=client.allowed_scopes,
        requested=requested_claim_names(subject.grant.claims_request, target),
    )


# --- tokens ---------------------------------------------------------------------------


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """JWT access tokens (RFC 9068), validated offline by relying applications."""

    def get_jwks(self) -> KeySet:
        return signing_keyset(capabilities.ACCESS_TOKEN_ALGORITHM)

    def get_extra_claims(self, client: Client, grant_type: str, user: Subject | None,
                         scope: str) -> dict[str, Any]:
        if user is None:
            return {}
        claims = {"grant_id": user.grant.id, "sid": user.grant.sid}
        if "habilitations" in (scope or "").split():
            released = subject_claims(user, client, scope, "access_token")
            claims.update({k: released[k] for k in ("profile", "entity", "roles")
                           if k in released})
        return claims

    def get_auth_time(self, user: Subject | None) -> int | None:
        return user.grant.auth_time if user else None

    def get_acr(self, user: Subject | None) -> str | None:
        return user.grant.acr if user else None

    def get_amr(self, user: Subject | None) -> list[str] | None:
        return user.grant.amr if user else None


def _expires_in(client: Client, grant_type: str) -> int:
    return int(settings()["oidc"]["access_token_ttl"])


def _new_refresh_token(client: Client, grant_type: str, user: Subject | None,
                       scope: str) -> str | None:
    if user is None:
        return None
    return grants_store.issue_refresh_token(user.grant)


# --- grants ---------------------------------------------------------------------------


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(capabilities.TOKEN_AUTH_METHODS)

    def save_authorization_code(self, code: str, request: Any) -> None:
        approval: Approval = request.user
        data = request.payload.data
        grants_store.save_code(AuthorizationCode(
            **asdict(approval),
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri or self.redirect_uri,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        ))

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return grants_store.take_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Already gone: `take_code` popped it atomically."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Subject | None:
        grant = grants_store.create_grant(authorization_code)
        grants_store.remember_code_use(authorization_code.code, grant.id)
        return subjects.subject_for(grant, self.request.client.domains)


class RefreshCredential:
    """A claimed refresh token as Authlib's RefreshTokenGrant sees it: the subject of
    its grant, whose rights were checked when it was claimed."""

    def __init__(self, subject: Subject) -> None:
        self.subject = subject

    def check_client(self, client: Client) -> bool:
        return self.subject.grant.client_id == client.client_id

    def get_scope(self) -> str:
        return self.subject.grant.scope

    def is_expired(self) -> bool:
        return False  # checked by claim_refresh_token

    def is_revoked(self) -> bool:
        return False  # claimed from an active grant, by claim_refresh_token


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CodeGrant.TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every use returns a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        client = self.request.client
        grant = grants_store.claim_refresh_token(refresh_token, client.client_id)
        if grant is None:
            return None  # Authlib answers invalid_grant
        subject = subjects.subject_for(grant, client.domains)
        if subject is None:
            grants_store.revoke_grant(grant.id, "rights_withdrawn")
            db.session.commit()
            return None
        return RefreshCredential(subject)

    def authenticate_user(self, credential: RefreshCredential) -> Subject | None:
        return credential.subject

    def revoke_old_credential(self, credential: RefreshCredential) -> None:
        """Done when the token was claimed (atomically, before issuing the new one)."""


class MachineGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(
        capabilities.CONFIDENTIAL_AUTH_METHODS)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """The answer names the granted scope whenever it differs from the one asked
        (RFC 6749 §5.1), an empty one included (every scope asked was refused)."""
        status, token, headers = super().create_token_response()
        asked = self.request.payload.scope
        if asked is not None and set(asked.split()) != set(token.get("scope", "").split()):
            token["scope"] = token.get("scope", "")
        return status, token, headers


class IdTokenMixin:
    """ID token signing and claims shared by the code and refresh grants."""

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return signing_keyset(self.get_client_algorithm(client))

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_signed_response_alg or capabilities.DEFAULT_SIGNING_ALGORITHM

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": issuer(), "aud": [client.client_id], "iat": now,
                "exp": now + int(settings()["oidc"]["id_token_ttl"])}

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": self.get_client_algorithm(client), "typ": "JWT"}

    def generate_user_info(self, user: Subject, scope: str) -> dict[str, Any]:
        grant = user.grant
        client = query_client(grant.client_id)
        assert client is not None  # the token endpoint authenticated it
        claims = subject_claims(user, client, scope, "id_token")
        claims.update({"auth_time": grant.auth_time, "acr": grant.acr, "amr": grant.amr,
                       "sid": grant.sid})
        return {k: v for k, v in claims.items() if v not in (None, [], "")}


class IdTokenForCode(IdTokenMixin, OpenIDCode):
    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # The nonce binds the ID token to the client's session; replay protection is the
        # client's check (OIDC Core 3.1.3.7). The request is validated at every step of
        # the login, so a "seen" cache here would refuse our own resumed requests.
        return False

    def __call__(self, grant: Any) -> None:
        # Authlib's prompt handling is replaced by our authorization pipeline
        # (idp.oidc.authorization), so only the nonce check and the ID token are hooked.
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                lambda g, redirect_uri: validate_nonce(g.request, self.exists_nonce,
                                                       self.require_nonce),
            )


class IdTokenForRefresh(IdTokenMixin, OpenIDToken):
    """A refreshed ID token keeps the original authentication (auth_time, acr, sid)."""


# --- assembly -------------------------------------------------------------------------


class Server(AuthorizationServer):
    """Also accepts a request rebuilt from the store (a login that resumes); one client
    authentication method per request (`client_auth`); a missing grant_type is a
    missing parameter."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> Client:
        client_auth.check_single_method(request)
        client = super().authenticate_client(request, methods, endpoint)
        client_auth.check_client_id(request, client)
        return client

    def create_token_response(self, request: Any = None) -> Any:
        request = self.create_oauth2_request(request)
        if not request.payload.grant_type:  # Authlib would call it unsupported
            return self.handle_error_response(
                request, InvalidRequestError("Missing 'grant_type' parameter."))
        return super().create_token_response(request)


def save_token(token: dict[str, Any], request: Any) -> None:
    """Refresh tokens were stored when generated; commit the grant and tokens together.
    The ID token is made next from the same subject, as checked for this request. A
    client_credentials token touched no table: there is nothing to commit (an empty
    commit still costs the ORM a transaction)."""
    if db.session().in_transaction():
        db.session.commit()
    metrics.token_issued(request.payload.grant_type)


def create_server(app: Flask) -> AuthorizationServer:
    errors.install()
    registry.install(app)
    subjects.install(app)
    server = Server(app, query_client=query_client, save_token=save_token)
    generator = AccessTokenGenerator(
        issuer=app.config["IDP"]["server"]["issuer"],
        alg=capabilities.ACCESS_TOKEN_ALGORITHM,
        refresh_token_generator=_new_refresh_token, expires_generator=_expires_in,
    )
    server.register_token_generator("default", generator)
    server.register_client_auth_method(client_auth.PrivateKeyJwt.CLIENT_AUTH_METHOD,
                                       client_auth.PrivateKeyJwt())
    challenge = CodeChallenge(required=False)
    challenge.SUPPORTED_CODE_CHALLENGE_METHOD = list(capabilities.CODE_CHALLENGE_METHODS)
    server.register_grant(CodeGrant, [challenge, IdTokenForCode(require_nonce=False)])
    server.register_grant(RefreshGrant, [IdTokenForRefresh()])
    server.register_grant(MachineGrant)
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    return server
