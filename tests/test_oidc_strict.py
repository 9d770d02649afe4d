"""What the specifications say when a request bends the rules, and what a client coming
back in the same session should not have to go through again.

Driven from outside like tests/test_oidc_errors.py (requests, oauthlib, PyJWT).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import requests

from tests.support.oidc import ASSERTION_TYPE, Arrival, Browser, Page, Scene, register
from tests.test_oidc_errors import _code, _exchange, client_error, invalid_grant

ESSENTIAL_EIDAS3 = {"id_token": {"acr": {"essential": True, "values": ["eidas3"]}}}


def invalid_request(response: requests.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


# --- prompt=none never answers with a page (OIDC Core 3.1.2.1) ------------------------


def test_prompt_none_without_a_usable_profile_is_an_error_not_a_page(sqlite: Scene) -> None:
    people = sqlite.people
    no_right = register(sqlite.op, ("SCANSANTE",), name="Scan Santé")
    browser = Browser(sqlite.op)
    browser.sign_in(people.person)  # no SCANSANTE role
    request = no_right.begin(prompt="none")
    client_error(browser.open(request.url), no_right, "interaction_required", request.state)

    ancre = register(sqlite.op)
    conflicted = Browser(sqlite.op)
    conflicted.sign_in(people.conflicted)  # both exclusive ANCRE roles
    request = ancre.begin(prompt="none")
    client_error(conflicted.open(request.url), ancre, "interaction_required", request.state)
    # Without prompt=none the page explains, as before.
    page = conflicted.open(ancre.begin().url)
    assert isinstance(page, Page) and page.status == 403 and "rôles incompatibles" in page.text


# --- an essential acr that cannot be met (OIDC Core 5.5.1.1) --------------------------


def test_an_essential_acr_we_cannot_reach_fails_the_request(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin(claims=json.dumps(ESSENTIAL_EIDAS3))
    # Refused before the login page: no one signs in for nothing.
    client_error(Browser(sqlite.op).open(request.url), rp,
                 "unmet_authentication_requirements", request.state)
    single = {"userinfo": {"acr": {"essential": True, "value": "eidas3"}}}
    request = rp.begin(claims=json.dumps(single))
    client_error(Browser(sqlite.op).open(request.url), rp,
                 "unmet_authentication_requirements", request.state)

    # Voluntary, or essential with a value we reach: the login goes on (acr eidas1; the
    # person has no second factor to step up with).
    for claims in ({"id_token": {"acr": {"values": ["eidas2"]}}},
                   {"id_token": {"acr": {"essential": True, "values": ["eidas3", "eidas1"]}}}):
        request = rp.begin(claims=json.dumps(claims))
        arrival = Browser(sqlite.op).authorize(request.url, sqlite.people.person,
                                               profile=sqlite.people.profile_x)
        assert rp.exchange(request, rp.code_from(request, arrival)).id_claims["acr"] == "eidas1"


# --- client authentication (RFC 6749 §2.3) --------------------------------------------


def test_one_client_authentication_method_per_request(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request, code = _code(rp, sqlite)
    # HTTP Basic and the secret in the body as well.
    invalid_request(_exchange(rp, code, request.code_verifier,
                              client_secret=rp.client_secret or ""))
    # A body client_id naming another client than the Basic user.
    other = register(sqlite.op, name="Autre application")
    invalid_request(_exchange(rp, code, request.code_verifier, client_id=other.client_id))
    # Neither attempt spent the code.
    assert rp.exchange(request, code).id_claims["sub"] == sqlite.people.person

    signed = register(sqlite.op, auth_method="private_key_jwt")
    tokens = signed.login(Browser(sqlite.op), sqlite.people.person,
                          profile=sqlite.people.profile_x)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""}
    # HTTP Basic and a client assertion.
    both = requests.post(sqlite.op.endpoint("token"), auth=(signed.client_id, "x"), timeout=10,
                         data={**refresh, "client_assertion_type": ASSERTION_TYPE,
                               "client_assertion": signed.assertion()})
    invalid_request(both)
    # A body client_id that is not the assertion's sub.
    mismatch = requests.post(sqlite.op.endpoint("token"), timeout=10, data={
        **refresh, "client_id": other.client_id, "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed.assertion()})
    invalid_request(mismatch)
    assert signed.refresh(tokens.refresh_token or "").refresh_token


def test_a_code_presented_by_another_client_is_not_spent(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    thief = register(sqlite.op, name="Autre application")
    request, code = _code(rp, sqlite)
    invalid_grant(thief.token_request({
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
        "code_verifier": request.code_verifier or ""}))
    assert rp.exchange(request, code).id_claims["sub"] == sqlite.people.person


# --- missing parameters ---------------------------------------------------------------


def test_a_missing_grant_type_or_response_type_is_invalid_request(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request, code = _code(rp, sqlite)
    invalid_request(rp.token_request({"code": code, "redirect_uri": rp.redirect_uri,
                                      "code_verifier": request.code_verifier or ""}))

    url = sqlite.op.endpoint("authorization") + "?" + urlencode({
        "client_id": rp.client_id, "redirect_uri": rp.redirect_uri, "scope": "openid",
        "state": "sans-type"})
    params = client_error(Browser(sqlite.op).open(url), rp, "invalid_request", "sans-type")
    assert "response_type" in params["error_description"]


# --- revocation and introspection agree -----------------------------------------------


def test_a_revoked_client_credentials_token_is_no_longer_active(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="Batch ANCRE", grant_types=["client_credentials"],
                  redirect_uri="https://batch.rp.test/unused")
    token = rp.client_credentials()["access_token"]
    other = rp.client_credentials()["access_token"]
    assert rp.introspect(token).json()["active"] is True
    assert rp.revoke(token).status_code == 200
    assert rp.introspect(token).json() == {"active": False}
    assert rp.introspect(other).json()["active"] is True  # only that token


# --- the profile of a client that comes back ------------------------------------------


def test_a_client_coming_back_in_the_same_session_keeps_its_profile_without_a_page(
        sqlite: Scene) -> None:
    people = sqlite.people
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    first = rp.login(browser, people.person, profile=people.profile_y)
    assert first.id_claims["profile"]["id"] == str(people.profile_y)

    again = rp.begin()
    arrival = browser.open(again.url)  # no page at all
    assert isinstance(arrival, Arrival), arrival
    tokens = rp.exchange(again, rp.code_from(again, arrival))
    assert tokens.id_claims["profile"]["id"] == str(people.profile_y)
    assert tokens.id_claims["sid"] == first.id_claims["sid"]

    # prompt=select_account asks again; so does another client, and a new login.
    asked = browser.open(rp.begin(prompt="select_account").url)
    assert isinstance(asked, Page) and asked.kind == "profile_choice"
    other = register(sqlite.op, name="ANCRE bis")
    asked = browser.open(other.begin().url)
    assert isinstance(asked, Page) and asked.kind == "profile_choice"
    relogin = browser.authorize(rp.begin(prompt="login").url, people.person,
                                stop_at="profile_choice")
    assert isinstance(relogin, Page) and relogin.kind == "profile_choice"
