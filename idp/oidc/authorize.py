"""The authorization endpoint as a pipeline of small named steps.

`VALIDATION` checks the request, in the order OpenID Connect Core applies the rules;
it runs again each time the login resumes, since the request is rebuilt from the store.
`INTERACTION` then makes sure a person is signed in, has chosen an eligible profile and
has consented; a step either lets the flow go on (returns None) or answers (a page, or a
redirection to the client). Errors are typed OAuth errors, turned into a response in one
place (`error_response`): back to the client when its redirect URI is proven, otherwise
a French page (an unknown client or redirect URI is never redirected to).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidRequestError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import current_app, redirect, render_template, request, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from idp.claims import requested_claim_names, scopes_of_claims
from idp.clients.models import Client
from idp.consent import service as consent
from idp.directory import rules, services
from idp.directory.models import Account, Profile
from idp.extensions import db
from idp.keys import service as keys
from idp.oidc import interactions
from idp.oidc.grants_store import Approval
from idp.oidc.server import query_client
from idp.web.session import LoginState, current_login, remember_client

PROMPT_VALUES = {"none", "login", "consent", "select_account"}
RESPONSE_MODES = {"query", "form_post"}


class AuthorizationFailed(Exception):
    """Ends the flow with an OAuth error (delivered by `error_response`)."""

    def __init__(self, error: OAuth2Error) -> None:
        super().__init__(error.error)
        self.error = error


@dataclass
class Flow:
    """One authorization request on its way through the pipeline."""

    state: dict[str, Any]
    grant: Any = None  # Authlib's CodeGrant, once validated
    client: Client | None = None
    redirect_uri: str | None = None
    login: LoginState | None = None
    account: Account | None = None
    profile: Profile | None = None
    usable: list[Profile] = field(default_factory=list)

    @property
    def uid(self) -> str:
        return self.state["uid"]

    @property
    def params(self) -> dict[str, str]:
        return self.state["params"]

    @property
    def prompts(self) -> set[str]:
        return set((self.params.get("prompt") or "").split())

    @property
    def response_mode(self) -> str:
        mode = self.params.get("response_mode") or "query"
        return mode if mode in RESPONSE_MODES else "query"

    @property
    def scopes(self) -> list[str]:
        assert self.client is not None
        return self.client.get_allowed_scope(self.params.get("scope") or "").split()

    @property
    def claims_request(self) -> dict[str, Any] | None:
        raw = self.params.get("claims")  # valid JSON: checked by check_claims_parameter
        return json.loads(raw) if raw else None

    @property
    def consent_scopes(self) -> list[str]:
        """What the person agrees to share: the scopes granted, and the scopes of the
        claims the `claims` parameter asks for one by one (they are released too)."""
        assert self.client is not None
        asked = {name for target in ("id_token", "userinfo")
                 for name in requested_claim_names(self.claims_request, target)}
        implied = scopes_of_claims(asked, self.client.allowed_scopes)
        return consent.scopes_needing_consent([*self.scopes, *implied])

    def save(self) -> None:
        interactions.save(self.state)


def issuer() -> str:
    return current_app.config["IDP"]["server"]["issuer"]


def _fail(error_cls: type[OAuth2Error], description: str) -> AuthorizationFailed:
    return AuthorizationFailed(error_cls(description=description))


# --- validation -----------------------------------------------------------------------


def validate_with_authlib(flow: Flow, oauth_request: OAuth2Request) -> None:
    """Client, redirect URI (exact match), response type, scope, PKCE shape, nonce."""
    server = current_app.extensions["idp.oauth_server"]
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=None)
    except OAuth2Error as error:
        raise AuthorizationFailed(error) from None
    flow.grant, flow.client, flow.redirect_uri = grant, grant.client, grant.redirect_uri


def reject_request_objects(flow: Flow, _req: OAuth2Request) -> None:
    """We do not support request objects: say so, never ignore them (OIDC Core 6)."""
    if "request" in flow.params:
        raise _fail(RequestNotSupportedError, "The 'request' parameter is not supported.")
    if "request_uri" in flow.params:
        raise _fail(RequestURINotSupportedError,
                    "The 'request_uri' parameter is not supported.")


def require_redirect_uri(flow: Flow, _req: OAuth2Request) -> None:
    """OpenID Connect requires redirect_uri (Core 3.1.2.1), even when the client has a
    single one registered: without it the request is refused on a page."""
    if not flow.params.get("redirect_uri"):
        flow.redirect_uri = None
        raise _fail(InvalidRequestError, "Missing 'redirect_uri' parameter.")


def check_response_mode(flow: Flow, _req: OAuth2Request) -> None:
    mode = flow.params.get("response_mode")
    if mode and mode not in RESPONSE_MODES:
        raise _fail(InvalidRequestError, f"Unsupported response_mode '{mode}'.")


def check_pkce(flow: Flow, _req: OAuth2Request) -> None:
    """PKCE with S256: mandatory for public clients, S256 only for everyone (RFC 9700)."""
    assert flow.client is not None
    challenge = flow.params.get("code_challenge")
    if not challenge:
        if flow.client.is_public:
            raise _fail(InvalidRequestError, "PKCE is required: missing 'code_challenge'.")
        return
    if flow.params.get("code_challenge_method") != "S256":
        raise _fail(InvalidRequestError, "Only code_challenge_method=S256 is supported.")


def check_prompt(flow: Flow, _req: OAuth2Request) -> None:
    unknown = flow.prompts - PROMPT_VALUES
    if unknown:
        raise _fail(InvalidRequestError, f"Unsupported prompt value: {' '.join(sorted(unknown))}.")
    if "none" in flow.prompts and len(flow.prompts) > 1:
        raise _fail(InvalidRequestError, "prompt=none cannot be combined with other values.")


def check_max_age(flow: Flow, _req: OAuth2Request) -> None:
    raw = flow.params.get("max_age")
    if raw is not None and not (raw.isdigit() and len(raw) < 10):
        raise _fail(InvalidRequestError, "max_age must be a non-negative integer.")


def check_claims_parameter(flow: Flow, _req: OAuth2Request) -> None:
    raw = flow.params.get("claims")
    if raw is None:
        return
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise _fail(InvalidRequestError, "The 'claims' parameter is not valid JSON.") from None
    if not isinstance(parsed, dict) or any(
        k in parsed and not isinstance(parsed[k], dict) for k in ("id_token", "userinfo")
    ):
        raise _fail(InvalidRequestError, "The 'claims' parameter must be a JSON object.")


def check_id_token_hint(flow: Flow, _req: OAuth2Request) -> None:
    """A hint must be an ID token we issued to this client (it may have expired)."""
    hint = flow.params.get("id_token_hint")
    if not hint:
        return
    subject = id_token_hint_subject(hint, flow.client.client_id if flow.client else None)
    if subject is None:
        raise _fail(InvalidRequestError, "Invalid id_token_hint.")
    flow.state["hint_sub"] = subject


def id_token_hint_subject(token: str, client_id: str | None) -> str | None:
    """`sub` of an ID token signed by us for `client_id` (or any client when None)."""
    claims = id_token_hint_claims(token, client_id)
    return claims["sub"] if claims else None


def id_token_hint_claims(token: str, client_id: str | None) -> dict[str, Any] | None:
    """The claims of an ID token we signed for `client_id` (any client when None).

    It may have expired (a hint names a session, it grants nothing). An access or
    logout token is not an ID token, even with our signature.
    """
    try:
        decoded = jwt.decode(token, keys.public_keyset(), algorithms=list(
            keys.SUPPORTED_ALGORITHMS))
    except (JoseError, ValueError, TypeError):
        return None
    claims = decoded.claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if (decoded.header.get("typ", "JWT") != "JWT" or claims.get("iss") != issuer()
            or (client_id and client_id not in audiences)
            or not isinstance(claims.get("sub"), str)):
        return None
    return dict(claims)


VALIDATION: list[Callable[[Flow, OAuth2Request], None]] = [
    validate_with_authlib,
    require_redirect_uri,
    reject_request_objects,
    check_response_mode,
    check_pkce,
    check_prompt,
    check_max_age,
    check_claims_parameter,
    check_id_token_hint,
]


# --- interaction ----------------------------------------------------------------------


def require_login(flow: Flow) -> Response | None:
    """Someone signed in, recently enough, and the one the client expects.

    A login that must not serve (too old for prompt=login or max_age, or another person
    than the id_token_hint names) is remembered by its `sid`, not by a time: auth_time
    counts seconds, and a login made in the same second must not pass for a new one."""
    login = current_login()
    if "stale_sid" not in flow.state:
        # Decided once, at the start: prompt=login or max_age refuse the current login.
        stale = login is not None and _login_too_old(flow, login)
        flow.state["stale_sid"] = login.sid if stale and login else None
        flow.save()
    hint_sub = flow.state.get("hint_sub")
    ok = login is not None and login.sid != flow.state["stale_sid"]
    if ok and hint_sub and not flow.state.get("hint_login_done"):
        account = db.session.get(Account, login.account_id)  # type: ignore[union-attr]
        ok = account is not None and account.identifier == hint_sub
    if ok:
        flow.login = login
        flow.account = db.session.get(Account, login.account_id)  # type: ignore[union-attr]
        return None
    if "none" in flow.prompts:
        raise _fail(LoginRequiredError, "The end-user must sign in.")
    if hint_sub:
        flow.state["hint_login_done"] = True
    if login is not None:
        flow.state["stale_sid"] = login.sid  # only a new login will do
    flow.save()
    hint = flow.params.get("login_hint") or hint_sub
    return redirect(url_for("login.login", next=url_for("oidc.resume", uid=flow.uid),
                            login_hint=hint, force=1 if login else None))


def _login_too_old(flow: Flow, login: LoginState) -> bool:
    if "login" in flow.prompts:
        return True
    max_age = flow.params.get("max_age")
    if max_age is None:
        return False
    # max_age=0 is prompt=login (OIDC Core 3.1.2.1, errata set 2).
    return int(max_age) == 0 or int(time.time()) - login.auth_time > int(max_age)


def select_profile(flow: Flow) -> Response | None:
    """The profile whose entity and roles the tokens will carry (design.md)."""
    assert flow.client is not None and flow.account is not None
    domains = flow.client.domains
    conflicted = classify_profiles(flow)
    if not flow.usable:
        if conflicted:
            return render_template("consent/exclusive_conflict.html", flow=flow,
                                   conflicts=[(p, _conflicts_in(p, domains),
                                               services.contacts_for(p.entity))
                                              for p in conflicted]), 403
        return _no_valid_right(flow)
    chosen = flow.state.get("profile_id")
    by_id = {p.id: p for p in flow.usable}
    if chosen in by_id:
        flow.profile = by_id[chosen]
        return None
    last = consent.last_profile_choice(flow.account.id, flow.client.client_id)
    if "none" in flow.prompts:
        if len(flow.usable) == 1:
            flow.profile = flow.usable[0]
        elif last in by_id:
            flow.profile = by_id[last]
        else:
            raise _fail(AccountSelectionRequiredError, "The end-user must choose a profile.")
        return None
    if len(flow.usable) == 1 and "select_account" not in flow.prompts:
        flow.profile = flow.usable[0]
        return None
    return redirect(url_for("consent.choose_profile", uid=flow.uid))


def classify_profiles(flow: Flow) -> list[Profile]:
    """Set `flow.usable` (eligible, no exclusive-role conflict); return the conflicted."""
    assert flow.client is not None and flow.account is not None
    sorted_out = services.profiles_for_client(flow.account, flow.client.domains)
    flow.usable = sorted_out.usable
    return sorted_out.conflicted


def _conflicts_in(profile: Profile, domains: list[str]) -> list[tuple[Any, ...]]:
    roles = [r for r in rules.profile_roles(profile) if r.domain_code in domains]
    return rules.exclusive_conflicts(roles)


def _no_valid_right(flow: Flow) -> tuple[str, int]:
    assert flow.account is not None and flow.client is not None
    entities = {p.entity_id: p.entity for p in flow.account.profiles}
    contacts = [services.contacts_for(entity) for entity in entities.values()]
    return render_template("consent/no_valid_right.html", flow=flow,
                           domains=consent.domain_labels(flow.client.domains),
                           contacts=contacts), 403


def require_consent(flow: Flow) -> Response | None:
    assert flow.client is not None and flow.account is not None
    if flow.client.first_party:
        return None
    wanted = flow.consent_scopes
    given = consent.covers(flow.account.id, flow.client.client_id, wanted)
    if given and "consent" not in flow.prompts:
        return None
    if flow.state.get("consented"):
        return None
    if "none" in flow.prompts:
        raise _fail(ConsentRequiredError, "The end-user must consent.")
    return redirect(url_for("consent.consent", uid=flow.uid))


INTERACTION: list[Callable[[Flow], Response | None]] = [
    require_login,
    select_profile,
    require_consent,
]


# --- running the pipeline -------------------------------------------------------------


def _stored_request(params: dict[str, str]) -> OAuth2Request:
    oauth_request = OAuth2Request(request.method, request.url, headers=request.headers)
    oauth_request.payload = BasicOAuth2Payload(params)
    return oauth_request


def validate(flow: Flow, oauth_request: OAuth2Request) -> None:
    for step in VALIDATION:
        step(flow, oauth_request)


def begin() -> Response | tuple[str, int]:
    """GET or POST /authorize: validate, remember the request, go on."""
    flow = Flow(state={"uid": "", "params": request.values.to_dict(flat=True)})
    try:
        validate(flow, FlaskOAuth2Request(request))
    except AuthorizationFailed as failed:
        return error_response(flow, failed.error)
    # The new interaction keeps what validation derived (the id_token_hint's subject).
    flow.state = {**flow.state, **interactions.start(flow.params)}
    return proceed(flow)


def load(uid: str) -> Flow | None:
    """Rebuild a flow in progress (None if unknown, expired or another browser's)."""
    state = interactions.load(uid)
    if state is None:
        return None
    flow = Flow(state=state)
    validate(flow, _stored_request(flow.params))  # the client may have been disabled since
    return flow


def _with_flow(uid: str, then: Callable[[Flow], Response | tuple[str, int]]
               ) -> Response | tuple[str, int]:
    """Run `then` on the flow in progress, or answer why there is none."""
    try:
        flow = load(uid)
    except AuthorizationFailed as failed:
        return error_response(Flow(state={"uid": uid, "params": {}}), failed.error)
    if flow is None:
        return expired_page()
    return then(flow)


def resume(uid: str) -> Response | tuple[str, int]:
    return _with_flow(uid, proceed)


def proceed(flow: Flow) -> Response | tuple[str, int]:
    try:
        for step in INTERACTION:
            answer = step(flow)
            if answer is not None:
                return answer
        return issue_code(flow)
    except AuthorizationFailed as failed:
        return error_response(flow, failed.error)


def issue_code(flow: Flow) -> Response:
    """Everything agreed: a single-use code for the client, with `iss` (RFC 9207)."""
    assert flow.login and flow.account and flow.profile and flow.client
    grant = flow.grant
    grant.request.user = Approval(
        account_id=flow.account.id, profile_id=flow.profile.id, scope=" ".join(flow.scopes),
        sid=flow.login.sid, auth_time=flow.login.auth_time, acr=flow.login.acr,
        amr=flow.login.amr, claims_request=flow.claims_request,
    )
    code = grant.generate_authorization_code()
    grant.save_authorization_code(code, grant.request)
    consent.remember_profile_choice(flow.account.id, flow.client.client_id, flow.profile.id)
    db.session.commit()
    remember_client(flow.client.client_id)
    interactions.finish(flow.uid)
    return deliver(flow, [("code", code)])


def abandon(uid: str, description: str) -> Response | tuple[str, int]:
    """The person gave up (refused consent, no valid right): tell the client."""
    return _with_flow(uid, lambda flow: error_response(
        flow, AccessDeniedError(description=description)))


def deliver(flow: Flow, params: list[tuple[str, str]]) -> Response:
    """Send parameters to the client's redirect URI, by query or by form_post."""
    assert flow.redirect_uri is not None
    if flow.params.get("state") is not None:
        params.append(("state", flow.params["state"]))
    params.append(("iss", issuer()))
    if flow.response_mode == "form_post":
        response = Response(render_template("oidc/form_post.html", action=flow.redirect_uri,
                                            params=params), mimetype="text/html")
    else:
        response = redirect(add_params_to_uri(flow.redirect_uri, params), code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_response(flow: Flow, error: OAuth2Error) -> Response | tuple[str, int]:
    redirect_uri = flow.redirect_uri or getattr(error, "redirect_uri", None)
    client_ok = flow.client is not None or getattr(error, "redirect_uri", None) is not None
    if redirect_uri and client_ok:
        flow.redirect_uri = redirect_uri
        params = [("error", error.error)]
        if error.description:
            params.append(("error_description", error.description))
        if flow.uid:
            interactions.finish(flow.uid)
        return deliver(flow, params)
    return render_template("oidc/error.html", error=error.error,
                           description=error.description), 400


def client_name_for(next_path: str | None) -> str | None:
    """The application a login page is for, when it continues an authorization."""
    prefix = "/authorize/resume/"
    if not next_path or not next_path.startswith(prefix):
        return None
    state = interactions.load(next_path.removeprefix(prefix))
    client = query_client(state["params"].get("client_id")) if state else None
    return client.name if client else None


def expired_page() -> tuple[str, int]:
    return render_template(
        "oidc/error.html", error="interaction_expired",
        description="Cette demande de connexion a expiré ou a déjà été traitée. "
                    "Retournez à l'application pour vous connecter à nouveau."), 400
