"""The checks of the authorization request, before anyone is asked anything.

They run when the request arrives and again at every resume (the request is rebuilt
from the interaction, and the client may have been disabled meanwhile). Each raises a
typed OAuth error, or lets the flow go on.
"""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, UnsupportedResponseTypeError
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from flask import current_app

from idp.oidc.authorization.flow import AuthorizationFailed, Flow, fail
from idp.oidc.capabilities import ACR_VALUES, CODE_CHALLENGE_METHODS, PROMPTS, RESPONSE_MODES
from idp.oidc.errors import UnmetAuthenticationRequirementsError
from idp.oidc.id_token_hint import hint_subject


def check_client(flow: Flow) -> None:
    """Client, redirect URI (exact match), response type, scope, PKCE shape, nonce:
    Authlib's own validation of the request."""
    server = current_app.extensions["idp.oauth_server"]
    try:
        grant = server.get_consent_grant(request=flow.oauth_request, end_user=None)
    except UnsupportedResponseTypeError as error:
        if flow.params.get("response_type"):
            raise AuthorizationFailed(error) from None
        # Authlib calls a missing response_type unsupported; it is a missing parameter
        # (RFC 6749 §4.1.2.1), sent to the redirect URI Authlib proved, if any.
        raise AuthorizationFailed(InvalidRequestError(
            "Missing 'response_type' parameter.", redirect_uri=error.redirect_uri)) from None
    except OAuth2Error as error:
        raise AuthorizationFailed(error) from None
    flow.grant, flow.client, flow.redirect_uri = grant, grant.client, grant.redirect_uri


def require_redirect_uri(flow: Flow) -> None:
    """OpenID Connect requires redirect_uri (Core 3.1.2.1), even when the client has a
    single one registered: without it the request is refused on a page."""
    if not flow.params.get("redirect_uri"):
        flow.redirect_uri = None
        raise fail(InvalidRequestError, "Missing 'redirect_uri' parameter.")


def reject_request_objects(flow: Flow) -> None:
    """We do not support request objects: say so, never ignore them (OIDC Core 6)."""
    if "request" in flow.params:
        raise fail(RequestNotSupportedError, "The 'request' parameter is not supported.")
    if "request_uri" in flow.params:
        raise fail(RequestURINotSupportedError, "The 'request_uri' parameter is not supported.")


def check_response_mode(flow: Flow) -> None:
    mode = flow.params.get("response_mode")
    if mode and mode not in RESPONSE_MODES:
        raise fail(InvalidRequestError, f"Unsupported response_mode '{mode}'.")


def check_pkce(flow: Flow) -> None:
    """PKCE with S256: mandatory for every client (ASVS 10.4.6), or for public clients
    only where `oidc.require_pkce` is off for applications that cannot send it yet;
    S256 only for everyone (RFC 9700 §2.1.1)."""
    assert flow.client is not None
    if not flow.params.get("code_challenge"):
        if flow.client.is_public or current_app.config["IDP"]["oidc"]["require_pkce"]:
            raise fail(InvalidRequestError, "PKCE is required: missing 'code_challenge'.")
        return
    if flow.params.get("code_challenge_method") not in CODE_CHALLENGE_METHODS:
        raise fail(InvalidRequestError, "Only code_challenge_method=S256 is supported.")


def check_prompt(flow: Flow) -> None:
    unknown = flow.prompts - set(PROMPTS)
    if unknown:
        raise fail(InvalidRequestError, f"Unsupported prompt value: {' '.join(sorted(unknown))}.")
    if "none" in flow.prompts and len(flow.prompts) > 1:
        raise fail(InvalidRequestError, "prompt=none cannot be combined with other values.")


def check_max_age(flow: Flow) -> None:
    raw = flow.params.get("max_age")
    # isascii: str.isdigit also accepts '²' or '١', which int() then refuses.
    if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        raise fail(InvalidRequestError, "max_age must be a non-negative integer.")


# {"id_token": {"acr": {"values": ["..."]}}}: what OIDC Core 5.5 defines goes no deeper.
CLAIMS_DEPTH = 4


def _deeper_than(value: Any, depth: int) -> bool:
    if depth < 0:
        return True
    children = value.values() if isinstance(value, dict) else (
        value if isinstance(value, list) else ())
    return any(_deeper_than(child, depth - 1) for child in children)


def check_claims_parameter(flow: Flow) -> None:
    raw = flow.params.get("claims")
    if raw is None:
        return
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested a thousand levels
        raise fail(InvalidRequestError, "The 'claims' parameter is not valid JSON.") from None
    if not isinstance(parsed, dict) or any(
        k in parsed and not isinstance(parsed[k], dict) for k in ("id_token", "userinfo")
    ):
        raise fail(InvalidRequestError, "The 'claims' parameter must be a JSON object.")
    # Kept in the interaction and the grant, serialised again and again: bounded.
    if _deeper_than(parsed, CLAIMS_DEPTH):
        raise fail(InvalidRequestError, "The 'claims' parameter is nested too deeply.")


def check_essential_acr(flow: Flow) -> None:
    """An essential `acr` that no login of ours reaches fails the request (OIDC Core
    5.5.1.1), before anyone is asked to sign in for nothing."""
    claims = flow.claims_request or {}
    for target in ("id_token", "userinfo"):
        acr = (claims.get(target) or {}).get("acr")
        if not isinstance(acr, dict) or acr.get("essential") is not True:
            continue
        asked = acr.get("values", [acr["value"]] if "value" in acr else [])
        asked = asked if isinstance(asked, list) else [asked]
        if asked and not any(value in ACR_VALUES for value in asked):
            raise fail(UnmetAuthenticationRequirementsError,
                       "The essential acr requested cannot be satisfied.")


def check_id_token_hint(flow: Flow) -> None:
    """A hint must be an ID token we issued to this client (it may have expired); the
    login checks then compare it with the person signed in."""
    hint = flow.params.get("id_token_hint")
    if not hint:
        return
    assert flow.client is not None
    flow.hint_subject = hint_subject(hint, flow.client.client_id)
    if flow.hint_subject is None:
        raise fail(InvalidRequestError, "Invalid id_token_hint.")
