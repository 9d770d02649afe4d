"""The authorization endpoint: the order of its steps, in one table, and their runner.

A step takes the flow and lets it go on (returns None), answers (a redirection to the
page of a prompt, or the code for the client), or raises `AuthorizationFailed`, turned
into the client's error in one place (`response.error_response`). The whole table runs
when the request arrives and again each time a page hands it back
(/authorize/resume/<uid>): the request is checked anew and every answer the person gave
is validated again.
"""

from __future__ import annotations

from collections.abc import Callable

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import request
from werkzeug.wrappers import Response

from idp.oidc.authorization import checks, consent, login, profile, response
from idp.oidc.authorization.flow import AuthorizationFailed, Flow
from idp.web import interactions

Step = Callable[[Flow], Response | None]

STEPS: tuple[Step, ...] = (
    # The request (OpenID Connect Core 3.1.2.2), in the order the specification checks it.
    checks.check_client,  # client, redirect URI, response type, scope, nonce (Authlib)
    checks.require_redirect_uri,
    checks.reject_request_objects,
    checks.check_response_mode,
    checks.check_pkce,
    checks.check_prompt,
    checks.check_max_age,
    checks.check_claims_parameter,
    checks.check_essential_acr,
    checks.check_id_token_hint,
    # The person (each may stop at a page: the prompts of idp.web.interactions).
    response.check_abandoned,  # gave up on a page: access_denied
    login.require_login,  # the named checks of login.LOGIN_CHECKS
    profile.select_profile,  # rules.profiles_for_client; no valid right; exclusive roles
    consent.require_consent,
    # The answer.
    response.issue_code,
)


def begin() -> Response | tuple[str, int]:
    """GET or POST /authorize."""
    flow = Flow(interaction=interactions.new(request.values.to_dict(flat=True)),
                oauth_request=FlaskOAuth2Request(request), arriving=True)
    return run(flow)


def resume(uid: str) -> Response | tuple[str, int]:
    """GET /authorize/resume/<uid>: a page has recorded the person's answer."""
    interaction = interactions.load(uid)
    if interaction is None:
        return response.expired_page()
    return run(Flow(interaction=interaction, oauth_request=_stored_request(interaction)))


def run(flow: Flow) -> Response | tuple[str, int]:
    try:
        for step in STEPS:
            answer = step(flow)
            if answer is not None:
                return answer
    except AuthorizationFailed as failed:
        return response.error_response(flow, failed.error)
    raise AssertionError("issue_code, the last step, always answers")


def _stored_request(interaction: interactions.Interaction) -> OAuth2Request:
    """The client's request as it arrived, for Authlib to validate again."""
    oauth_request = OAuth2Request(request.method, request.url, headers=request.headers)
    oauth_request.payload = BasicOAuth2Payload(interaction.params)
    return oauth_request
