"""The provider's protocol endpoints."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from joserfc import jwt
from werkzeug.wrappers import Response

from idp.oidc import discovery, subjects
from idp.oidc.authorization import pipeline
from idp.oidc.documents import PublicDocuments
from idp.oidc.server import query_client, subject_claims
from idp.oidc.signing import held_jwks, jwks_document, signing_keyset
from idp.oidc.tokens import verify_with_grant
from idp.ops import context
from idp.web.csrf import csrf

bp = Blueprint("oidc", __name__)


def _server() -> Any:
    return current_app.extensions["idp.oauth_server"]


@bp.errorhandler(OAuth2Error)
def oauth_error(error: OAuth2Error) -> Response | tuple[str, int]:
    """An OAuth error raised before Authlib's own handling could answer it (e.g.
    `insecure_transport` while the request is being read): a French page at the
    authorization endpoint, OAuth's JSON elsewhere."""
    if request.endpoint in ("oidc.authorize_endpoint", "oidc.resume"):
        return render_template("oidc/error.html", error=error.error,
                               description=error.description), 400
    return _server().handle_error_response(None, error)


@bp.get("/.well-known/openid-configuration")
def configuration() -> Response:
    context.not_logged()  # as when `PublicDocuments` answers it
    return discovery.document().response()


@bp.get("/jwks")
def jwks() -> Response:
    context.not_logged()
    return jwks_document().response()


def serve_public_documents(app: Flask, headers: Iterable[tuple[str, str]]) -> None:
    """Answer the held discovery and JWKS documents ahead of Flask (`PublicDocuments`),
    with `headers` besides their own."""
    app.wsgi_app = PublicDocuments(app.wsgi_app, {  # type: ignore[method-assign]
        "/.well-known/openid-configuration": ("oidc.configuration",
                                              lambda: discovery.held_document(app)),
        "/jwks": ("oidc.jwks", lambda: held_jwks(app)),
    }, headers)


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # requests come from relying applications, not from our forms
def authorize_endpoint() -> Response | tuple[str, int]:
    return pipeline.begin()


@bp.get("/authorize/resume/<uid>")
def resume(uid: str) -> Response | tuple[str, int]:
    return pipeline.resume(uid)


def _client_credentials_readable() -> bool:
    """Authlib reads HTTP Basic credentials without catching what a malformed header
    raises (a scheme with no credentials after it, bytes that are not UTF-8)."""
    header = request.headers.get("Authorization", "")
    parts = header.split(None, 1)  # as authlib.oauth2.rfc6749.util does
    if " " not in header or parts[0].lower() != "basic":
        return True
    try:
        base64.b64decode(parts[1], validate=True).decode("utf-8")
    except (IndexError, ValueError, UnicodeDecodeError):
        return False
    return True


def client_authenticated(view: Callable[[], Response]) -> Callable[[], Response]:
    """For the endpoints where clients authenticate: unreadable credentials are an
    `invalid_client` answer, not a server error."""

    @wraps(view)
    def wrapper() -> Response:
        if not _client_credentials_readable():
            response = jsonify(error="invalid_client",
                               error_description="Malformed HTTP Basic client credentials.")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="token"'
            return response
        return view()

    return wrapper


@bp.post("/token")
@csrf.exempt
@client_authenticated
def token() -> Response:
    return _server().create_token_response()


@bp.post("/introspect")
@csrf.exempt
@client_authenticated
def introspect() -> Response:
    return _server().create_endpoint_response("introspection")


@bp.post("/revoke")
@csrf.exempt
@client_authenticated
def revoke() -> Response:
    return _server().create_endpoint_response("revocation")


def _bearer_error(description: str, status: int = 401) -> Response:
    response = jsonify(error="invalid_token", error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="invalid_token", error_description="{description}"'
    )
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo() -> Response:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    if token is None and request.method == "POST":
        token = request.form.get("access_token")
    if not token:
        response = jsonify(error="invalid_request", error_description="Missing access token")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    verified = verify_with_grant(token)
    if verified is None:
        return _bearer_error("The access token is invalid, expired or revoked.")
    claims, grant = verified
    if "openid" not in str(claims.get("scope", "")).split() or grant is None:
        return _bearer_error("The access token was not issued for OpenID Connect.", 403)
    client = query_client(claims.get("client_id"))
    if client is not None:
        context.note_client(client.client_id)  # the request line names the application
    subject = subjects.subject_for(grant, client.domains) if client else None
    if subject is None or client is None:
        return _bearer_error("The access token is no longer valid.")
    info = subject_claims(subject, client, claims["scope"], "userinfo")
    if client.userinfo_signed_response_alg:
        signed = jwt.encode(
            {"alg": client.userinfo_signed_response_alg, "typ": "JWT"},
            {**info, "iss": claims["iss"], "aud": client.client_id},
            signing_keyset(client.userinfo_signed_response_alg),
        )
        return Response(signed, mimetype="application/jwt",
                        headers={"Cache-Control": "no-store"})
    response = jsonify(info)
    response.headers["Cache-Control"] = "no-store"
    return response


# The logout endpoint lives in its own module and registers on `bp`.
from idp.oidc import logout  # noqa: E402, F401
