"""Every way a request to the provider can go wrong, and the answer the specifications
prescribe: a French page when the client or its redirect URI cannot be trusted (never a
redirection), an error delivered to the client otherwise, `invalid_grant` /
`invalid_client` at the token endpoint, 401 with `WWW-Authenticate` at userinfo.

Driven from outside like tests/test_oidc_flows.py (requests, oauthlib, PyJWT).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests
from sqlalchemy import select

from idp.clients.models import Client
from idp.directory.enums import AccountState
from idp.directory.models import Account
from idp.extensions import db
from tests.support import directory
from tests.support.clock import eventually, store_clock
from tests.support.oidc import (
    Arrival,
    Browser,
    Page,
    RelyingParty,
    Scene,
    register,
    scene,
)

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."


def client_error(arrival: Page | Arrival, rp: RelyingParty, error: str,
                 state: str | None = None) -> dict[str, str]:
    """The error was delivered to the client's redirect URI, with state and iss."""
    assert isinstance(arrival, Arrival), f"expected a redirection to the client: {arrival}"
    assert arrival.url == rp.redirect_uri
    assert arrival.params.get("error") == error, arrival.params
    assert "code" not in arrival.params
    if state is not None:
        assert arrival.params.get("state") == state
    assert arrival.params.get("iss") == rp.provider.issuer
    return arrival.params


def error_page(result: Page | Arrival, error: str) -> Page:
    """A French page, and no redirection to anyone."""
    assert isinstance(result, Page), f"must not be redirected: {result}"
    assert result.status == 400
    assert '<html lang="fr">' in result.html and "Connexion impossible" in result.text
    assert f'<code id="error-code">{error}</code>' in result.html
    return result


def unsigned(token: str, **changes: Any) -> str:
    """`token` with its payload changed and its signature kept (a forgery)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


# --- the client and its redirect URI --------------------------------------------------


def test_an_unknown_client_gets_a_french_page_and_no_redirection(sqlite: Scene) -> None:
    url = sqlite.op.endpoint("authorization") + "?" + urlencode({
        "response_type": "code", "client_id": "inconnue", "scope": "openid",
        "redirect_uri": "https://attacker.test/cb", "state": "s"})
    page = error_page(Browser(sqlite.op).open(url), "invalid_client")
    assert "n'est pas enregistrée auprès de PLAGE" in page.text


def test_a_disabled_client_is_treated_as_unknown(sqlite: Scene) -> None:
    rp = register(sqlite.op)

    def disable() -> None:
        row = db.session.scalar(db.select(Client).filter_by(client_id=rp.client_id))
        row.disabled = True
        db.session.commit()

    sqlite.op.run(disable)
    error_page(Browser(sqlite.op).open(rp.begin().url), "invalid_client")


@pytest.mark.parametrize("variant", [
    "{uri}/", "{uri}/../evil", "{uri}x", "{uri}?next=https://attacker.test", "{uri}#frag",
    "{base}", "https://attacker.test/callback", "http://{host}/callback",
    "https://{host}.attacker.test/callback", "https://{host}:8443/callback",
])
def test_a_redirect_uri_not_registered_exactly_is_never_redirected_to(
        sqlite: Scene, variant: str) -> None:
    rp = register(sqlite.op)
    host = rp.redirect_uri.split("/")[2]
    rp.redirect_uri = variant.format(uri=rp.redirect_uri, base=rp.redirect_uri[:-1], host=host)
    error_page(Browser(sqlite.op).open(rp.begin().url), "invalid_request")


def test_missing_redirect_uri_is_refused_on_a_page(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    url = sqlite.op.endpoint("authorization") + "?" + urlencode({
        "response_type": "code", "client_id": rp.client_id, "scope": "openid",
        "state": "s", "nonce": "n"})
    # OIDC Core 3.1.2.1: redirect_uri is required, even with a single URI registered.
    page = error_page(Browser(sqlite.op).open(url), "invalid_request")
    assert "redirect_uri" in page.text


# --- errors delivered to the client ---------------------------------------------------


def test_a_public_client_must_use_pkce(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="Application mobile", auth_method="none")
    request = rp.begin(pkce=None)
    arrival = Browser(sqlite.op).open(request.url)
    params = client_error(arrival, rp, "invalid_request", request.state)
    assert "code_challenge" in params["error_description"]


def test_a_confidential_client_must_use_pkce_too(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin(pkce=None)
    arrival = Browser(sqlite.op).open(request.url)
    params = client_error(arrival, rp, "invalid_request", request.state)
    assert "code_challenge" in params["error_description"]


def test_a_confidential_client_may_do_without_pkce_where_allowed(tmp_path: Path,
                                                                   sqlite_url: str) -> None:
    with scene(tmp_path, sqlite_url, oidc={"require_pkce": False}) as lenient:
        rp = register(lenient.op)
        request, code = _code(rp, lenient, pkce=None)
        assert rp.exchange(request, code).id_claims["sub"]
        # ... but a code_verifier for a code issued without a challenge is a PKCE
        # downgrade (RFC 9700 §4.8).
        _request, code = _code(rp, lenient, pkce=None)
        downgrade = _exchange(rp, code, rp.begin().code_verifier)
        assert downgrade.status_code == 400 and downgrade.json()["error"] == "invalid_request"


def test_the_plain_pkce_method_is_refused(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="Application mobile", auth_method="none")
    request = rp.begin(pkce="plain")
    client_error(Browser(sqlite.op).open(request.url), rp, "invalid_request", request.state)


def test_request_objects_are_refused_not_ignored(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request_object = jwt.encode({"iss": rp.client_id, "aud": sqlite.op.issuer}, key="",
                                algorithm="none")
    by_value = rp.begin(request=request_object)
    client_error(Browser(sqlite.op).open(by_value.url), rp, "request_not_supported",
                 by_value.state)
    by_reference = rp.begin(request_uri="https://rp.test/request.jwt")
    client_error(Browser(sqlite.op).open(by_reference.url), rp, "request_uri_not_supported",
                 by_reference.state)


def test_an_unknown_prompt_value_is_refused(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin(prompt="create")
    client_error(Browser(sqlite.op).open(request.url), rp, "invalid_request", request.state)


def test_unknown_parameters_are_ignored(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin(extension="quelque-chose", ui_locales="fr-FR de", foo="")
    arrival = Browser(sqlite.op).authorize(request.url, sqlite.people.person,
                                           profile=sqlite.people.profile_x)
    assert rp.exchange(request, rp.code_from(request, arrival)).id_claims["sub"]


def test_the_authorization_endpoint_accepts_post(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin()
    arrival = Browser(sqlite.op).authorize(request.url, sqlite.people.person,
                                           profile=sqlite.people.profile_y, post=True)
    tokens = rp.exchange(request, rp.code_from(request, arrival))
    assert tokens.id_claims["profile"]["id"] == str(sqlite.people.profile_y)


def test_prompt_none_without_a_session_answers_login_required(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin(prompt="none")
    client_error(Browser(sqlite.op).open(request.url), rp, "login_required", request.state)
    # ... in the response mode the client asked for.
    posted = rp.begin(prompt="none", response_mode="form_post")
    arrival = Browser(sqlite.op).open(posted.url)
    client_error(arrival, rp, "login_required", posted.state)
    assert isinstance(arrival, Arrival) and arrival.mode == "form_post"


def test_login_hint_fills_in_the_identifier(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    page = Browser(sqlite.op).open(rp.begin(login_hint=sqlite.people.person).url)
    assert isinstance(page, Page) and page.kind == "login"
    assert page.forms[page.form_with("password")].fields["identifier"] == sqlite.people.person


def test_prompt_none_when_consent_is_needed_answers_consent_required(sqlite: Scene) -> None:
    rp = register(sqlite.op, ("TDBESMS",), name="Partenaire", first_party=False)
    browser = Browser(sqlite.op)
    browser.sign_in(sqlite.people.person)
    request = rp.begin(prompt="none")
    client_error(browser.open(request.url), rp, "consent_required", request.state)


def test_prompt_none_with_two_profiles_and_no_choice_yet(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    browser.sign_in(sqlite.people.person)
    request = rp.begin(prompt="none")
    client_error(browser.open(request.url), rp, "account_selection_required", request.state)


def test_consent_refused_answers_access_denied(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="Partenaire", first_party=False)
    request = rp.begin()
    arrival = Browser(sqlite.op).authorize(request.url, sqlite.people.person,
                                           profile=sqlite.people.profile_x, consent=False)
    client_error(arrival, rp, "access_denied", request.state)
    # Nothing was remembered: the next request asks again.
    again = Browser(sqlite.op).authorize(rp.begin().url, sqlite.people.person,
                                         profile=sqlite.people.profile_x, stop_at="consent")
    assert isinstance(again, Page) and again.kind == "consent"


# --- re-authentication ----------------------------------------------------------------


def test_prompt_login_and_max_age_zero_ask_for_the_password_again(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    first = rp.login(browser, sqlite.people.person, profile=sqlite.people.profile_x)

    # Signed in moments ago: a generous max_age goes through without a login page.
    relaxed = rp.begin(max_age="3600")
    arrival = browser.authorize(relaxed.url, profile=sqlite.people.profile_x)
    tokens = rp.exchange(relaxed, rp.code_from(relaxed, arrival))
    assert tokens.id_claims["auth_time"] == first.id_claims["auth_time"]

    for params in ({"prompt": "login"}, {"max_age": "0"}):
        request = rp.begin(**params)
        page = browser.open(request.url)
        assert isinstance(page, Page) and page.kind == "login", params
        arrival = browser.authorize(request.url, sqlite.people.person,
                                    profile=sqlite.people.profile_x)
        tokens = rp.exchange(request, rp.code_from(request, arrival))
        assert tokens.id_claims["auth_time"] >= first.id_claims["auth_time"]
        assert "auth_time" in tokens.id_claims

    # prompt=none cannot show the login page that max_age=0 requires.
    silent = rp.begin(prompt="none", max_age="0")
    client_error(browser.open(silent.url), rp, "login_required", silent.state)


def test_a_session_of_an_account_closed_meanwhile_answers_nothing(sqlite: Scene) -> None:
    """An account closed while its browser is still signed in (merged into another, or
    closed in the database) gets no code: the login page, or login_required."""
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    rp.login(browser, sqlite.people.spare)

    def set_state(state: AccountState) -> None:
        account = db.session.scalar(select(Account).filter_by(
            identifier=sqlite.people.spare))
        assert account is not None
        account.state = state
        db.session.commit()

    sqlite.op.run(lambda: set_state(AccountState.INACTIVE))
    try:
        silent = rp.begin(prompt="none")
        client_error(browser.open(silent.url), rp, "login_required", silent.state)
        page = browser.open(rp.begin().url)
        assert isinstance(page, Page) and page.kind == "login"
    finally:
        sqlite.op.run(lambda: set_state(AccountState.ACTIVE))
    # Reopened, the same browser session answers silently again.
    silent = rp.begin(prompt="none")
    assert "code" in rp.response_to(silent, browser.open(silent.url))


def test_id_token_hint_for_someone_else_or_forged_is_refused(sqlite: Scene) -> None:
    people = sqlite.people
    rp = register(sqlite.op)
    other_rp = register(sqlite.op, name="Autre")
    elodie = rp.login(Browser(sqlite.op), people.person, profile=people.profile_x)
    sophie_browser = Browser(sqlite.op)
    sophie = rp.login(sophie_browser, people.spare)

    # Élodie's hint while Sophie is signed in: no silent answer for Sophie.
    request = rp.begin(prompt="none", id_token_hint=elodie.id_token)
    client_error(sophie_browser.open(request.url), rp, "login_required", request.state)
    # Interactively, the login page asks for Élodie.
    page = sophie_browser.open(rp.begin(id_token_hint=elodie.id_token).url)
    assert isinstance(page, Page) and page.kind == "login"
    assert page.forms[page.form_with("password")].fields["identifier"] == people.person

    # A forged hint (Élodie's token rewritten to name Sophie) or one issued to another
    # client is invalid.
    forged = unsigned(elodie.id_token, sub=people.spare)
    foreign = other_rp.login(Browser(sqlite.op), people.spare).id_token
    for hint in (forged, foreign, "not-a-jwt"):
        request = rp.begin(prompt="none", id_token_hint=hint)
        client_error(sophie_browser.open(request.url), rp, "invalid_request", request.state)

    # Sophie's own hint goes through silently.
    request = rp.begin(prompt="none", id_token_hint=sophie.id_token)
    tokens = rp.exchange(request, rp.code_from(request, sophie_browser.open(request.url)))
    assert tokens.id_claims["sub"] == people.spare


def test_an_interaction_cannot_be_resumed_from_another_browser(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    page = browser.authorize(rp.begin().url, sqlite.people.person, stop_at="profile_choice")
    assert isinstance(page, Page) and page.kind == "profile_choice"
    resume = page.url.replace("/profil", "").replace("/authorize/", "/authorize/resume/")
    stranger = Browser(sqlite.op).open(resume)
    assert isinstance(stranger, Page) and stranger.status == 400
    assert "expiré ou a déjà été traitée" in stranger.text
    stolen = Browser(sqlite.op).open(page.url)
    assert isinstance(stolen, Page) and stolen.status == 400


# --- the token endpoint ---------------------------------------------------------------


def _code(rp: RelyingParty, at: Scene, **params: str) -> tuple[Any, str]:
    """A fresh authorization code for Élodie's profile X, and the request it answers."""
    request = rp.begin(**params)
    arrival = Browser(at.op).authorize(request.url, at.people.person,
                                       profile=at.people.profile_x)
    return request, rp.code_from(request, arrival)


def _exchange(rp: RelyingParty, code: str, verifier: str | None,
              **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            **({"code_verifier": verifier} if verifier else {}), **extra}
    return rp.token_request(data)


def invalid_grant(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_wrong_or_missing_code_verifier_is_invalid_grant(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="Application mobile", auth_method="none")
    _request, code = _code(rp, sqlite)
    wrong = rp.begin().code_verifier  # a well-formed verifier of another request
    invalid_grant(_exchange(rp, code, wrong))

    _request, code = _code(rp, sqlite)
    missing = _exchange(rp, code, None)
    assert missing.status_code == 400
    assert missing.json()["error"] in ("invalid_grant", "invalid_request")


def test_a_replayed_code_is_refused_and_revokes_what_it_gave(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request, code = _code(rp, sqlite)
    tokens = rp.exchange(request, code)
    assert rp.userinfo(tokens.access_token).status_code == 200

    invalid_grant(_exchange(rp, code, request.code_verifier))

    assert rp.userinfo(tokens.access_token).status_code == 401
    invalid_grant(rp.token_request({"grant_type": "refresh_token",
                                    "refresh_token": tokens.refresh_token or ""}))
    assert rp.introspect(tokens.access_token).json() == {"active": False}


def test_a_code_is_bound_to_its_client_and_redirect_uri(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    thief = register(sqlite.op, name="Autre application")
    request, code = _code(rp, sqlite)
    stolen = thief.token_request({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": rp.redirect_uri,
                                  "code_verifier": request.code_verifier or ""})
    invalid_grant(stolen)

    request, code = _code(rp, sqlite)
    invalid_grant(_exchange(rp, code, request.code_verifier,
                            redirect_uri=rp.redirect_uri + "/other"))
    request, code = _code(rp, sqlite)
    missing = {"grant_type": "authorization_code", "code": code,
               "code_verifier": request.code_verifier or ""}
    invalid_grant(rp.token_request(missing))  # redirect_uri was in the request: required


def test_a_wrong_client_secret_is_invalid_client(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request, code = _code(rp, sqlite)
    good_secret = rp.client_secret
    rp.client_secret = "not-the-secret"
    basic = _exchange(rp, code, request.code_verifier)
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert basic.headers["WWW-Authenticate"].startswith("Basic")

    # The failed attempt did not burn the code for the real client.
    rp.client_secret = good_secret
    assert rp.exchange(request, code).id_claims["sub"] == sqlite.people.person

    post = register(sqlite.op, auth_method="client_secret_post")
    request, code = _code(post, sqlite)
    post.client_secret = "not-the-secret"
    refused = _exchange(post, code, request.code_verifier)
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
    unknown = requests.post(sqlite.op.endpoint("token"), auth=("inconnue", "x"), timeout=10,
                            data={"grant_type": "authorization_code", "code": code})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"


# --- userinfo -------------------------------------------------------------------------


def invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge


def test_userinfo_refuses_tampered_forged_revoked_and_id_tokens(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    tokens = rp.login(Browser(sqlite.op), sqlite.people.person, profile=sqlite.people.profile_x)
    assert rp.userinfo(tokens.access_token).status_code == 200

    missing = requests.get(sqlite.op.endpoint("userinfo"), timeout=10)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")

    tampered = unsigned(tokens.access_token, profile={"id": "999", "label": "Autre"})
    invalid_token(rp.userinfo(tampered))
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(tokens.access_token)["kid"]
    header = {"typ": "at+jwt", "kid": kid}
    invalid_token(rp.userinfo(jwt.encode(claims, key="", algorithm="none", headers=header)))
    invalid_token(rp.userinfo(jwt.encode(claims, key="a-guessed-secret-of-32-bytes-at-least",
                                         algorithm="HS256", headers=header)))
    invalid_token(rp.userinfo(tokens.id_token))  # an ID token is not an access token
    invalid_token(rp.userinfo("garbage"))

    assert rp.revoke(tokens.access_token).status_code == 200
    invalid_token(rp.userinfo(tokens.access_token))


def test_time_passes_expired_code_expired_access_token_and_max_age(
        sqlite_url: str, tmp_path: Path) -> None:
    """Its own provider, with codes that live two seconds and access tokens one."""
    with scene(tmp_path / "short", sqlite_url,
               oidc={"code_ttl": 2, "access_token_ttl": 1}) as short:
        rp = register(short.op)
        browser = Browser(short.op)
        tokens = rp.login(browser, short.people.person, profile=short.people.profile_x)
        request = rp.begin(prompt="none")
        code = rp.code_from(request, browser.open(request.url))

        store_clock(short.op.app).advance(2.2)  # codes live in the short-lived store
        invalid_grant(_exchange(rp, code, request.code_verifier))
        # A token's exp and a login's age are read from the wall clock (no clock to give):
        # wait for the access token's second to pass, then for the login's.
        eventually(lambda: rp.introspect(tokens.access_token).json() == {"active": False},
                   what="the access token's expiry")
        invalid_token(rp.userinfo(tokens.access_token))
        login_time = tokens.id_claims["auth_time"]
        eventually(lambda: int(time.time()) - login_time > 1, what="a login over 1 s old")
        # The login is now over a second old: max_age=1 asks for the password again.
        page = browser.open(rp.begin(max_age="1").url)
        assert isinstance(page, Page) and page.kind == "login"


# --- the login page -------------------------------------------------------------------


def test_a_wrong_password_and_the_lockout_after_five_failures(sqlite: Scene) -> None:
    def new_account() -> str:
        person = directory.account("Marc", "Lefort")
        db.session.commit()
        return person.identifier

    identifier = sqlite.op.run(new_account)
    browser = Browser(sqlite.op)
    page = browser.open(f"{sqlite.op.issuer}/connexion")
    assert isinstance(page, Page)
    for attempt in range(5):
        page = browser.login(page, identifier, "mauvais-mot-de-passe")
        assert isinstance(page, Page) and page.status == 401, attempt
        assert BAD_CREDENTIALS in page.text

    # Locked out: even the right password is refused, with a clear message.
    page = browser.login(page, identifier)
    assert isinstance(page, Page) and page.status == 429
    assert "Trop de tentatives de connexion infructueuses" in page.text
    assert BAD_CREDENTIALS not in page.text
