"""The answer to the client: a code, or an error, by query or form_post.

Errors go back to the client only when its redirect URI is proven; otherwise the person
sees a French page (an unknown client or redirect URI is never redirected to).
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError
from flask import current_app, redirect, render_template
from werkzeug.wrappers import Response

from idp.consent import service as consent
from idp.extensions import db
from idp.oidc.authorization.flow import AuthorizationFailed, Flow
from idp.oidc.grants_store import Approval
from idp.web import interactions
from idp.web.interactions import ABANDON
from idp.web.session import remember_client


def check_abandoned(flow: Flow) -> None:
    """The person gave up on one of our pages (refused consent, no valid right)."""
    gave_up = flow.result(ABANDON)
    if gave_up is not None and gave_up.get("error") == AccessDeniedError.error:
        raise AuthorizationFailed(AccessDeniedError(description=gave_up.get("description")))


def issue_code(flow: Flow) -> Response:
    """Everything agreed: a single-use code for the client, with `iss` (RFC 9207)."""
    assert flow.login and flow.account and flow.profile_id and flow.client
    grant = flow.grant
    grant.request.user = Approval(
        account_id=flow.account.id, profile_id=flow.profile_id, scope=" ".join(flow.scopes),
        sid=flow.login.sid, auth_time=flow.login.auth_time, acr=flow.login.acr,
        amr=flow.login.amr, claims_request=flow.claims_request,
    )
    code = grant.generate_authorization_code()
    grant.save_authorization_code(code, grant.request)
    if flow.profile_id != flow.remembered_profile_id:  # a silent login chose the last one
        consent.remember_profile_choice(flow.account.id, flow.client.client_id,
                                        flow.profile_id)
    db.session.commit()
    remember_client(flow.client.client_id)
    interactions.finish(flow.uid)
    return deliver(flow, [("code", code)])


def deliver(flow: Flow, params: list[tuple[str, str]]) -> Response:
    """Send parameters to the client's redirect URI, by query or by form_post."""
    assert flow.redirect_uri is not None
    if flow.params.get("state") is not None:
        params.append(("state", flow.params["state"]))
    params.append(("iss", current_app.config["IDP"]["server"]["issuer"]))
    if flow.response_mode == "form_post":
        response = Response(render_template("oidc/form_post.html", action=flow.redirect_uri,
                                            params=params), mimetype="text/html")
    else:
        response = redirect(add_params_to_uri(flow.redirect_uri, params), code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_response(flow: Flow, error: OAuth2Error) -> Response | tuple[str, int]:
    """The one place where an OAuth error becomes an answer."""
    proven = getattr(error, "redirect_uri", None)  # Authlib's, once it checked the URI
    redirect_uri = flow.redirect_uri or proven
    if redirect_uri and (flow.client is not None or proven is not None):
        flow.redirect_uri = redirect_uri
        params = [("error", error.error)]
        if error.description:
            params.append(("error_description", error.description))
        interactions.finish(flow.uid)
        return deliver(flow, params)
    return render_template("oidc/error.html", error=error.error,
                           description=error.description), 400


def expired_page() -> tuple[str, int]:
    return render_template("oidc/error.html", error="interaction_expired",
                           description=interactions.EXPIRED), 400
