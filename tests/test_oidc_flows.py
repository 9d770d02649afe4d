"""The provider seen by relying applications: complete flows driven from outside.

Every flow goes over real HTTP. The relying application is written with oauthlib
(requests-oauthlib) and PyJWT, which share no code with the server (Authlib); every ID
token, access token and signed userinfo is checked against the keys of `/jwks`.

Most tests share one provider (the ANCRE guide's directory, built once per test process:
session-scoped, so that xdist moving between modules does not rebuild it) and register
their own clients, so what one test remembers (consent, last profile chosen) cannot leak
into another; the core flows run again on PostgreSQL and with Redis as the short-lived
store.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
import requests

from idp.core.audit import Actor
from idp.extensions import db
from idp.keys import service as keys
from idp.keys.models import SigningKey
from tests.support.oidc import (
    SCOPE,
    Arrival,
    Browser,
    Page,
    People,
    RelyingParty,
    Scene,
    ancre_people,
    register,
    serving,
)

CONTRACT_ENTITY_KEYS = {"id", "type", "finess", "name", "level", "departement", "region"}


def assert_profile(claims: dict[str, Any], people: People, which: str,
                   roles: dict[str, list[str]]) -> None:
    """The claims carry profile X or Y of the contract (design.md)."""
    profile_id = people.profile_x if which == "x" else people.profile_y
    label = people.label_x if which == "x" else people.label_y
    assert claims["sub"] == people.person
    assert claims["profile"] == {"id": str(profile_id), "label": label}
    entity = claims["entity"]
    assert set(entity) == CONTRACT_ENTITY_KEYS
    assert entity["name"] == (people.entity_x if which == "x" else people.entity_y)
    assert entity["finess"] == (people.finess_x if which == "x" else people.finess_y)
    assert entity["type"] == "ET" and entity["level"] == "etablissement"
    assert claims["roles"] == roles


X_ROLES = {"ANCRE": ["GESTIONNAIRE_FICHIERS"]}
Y_ROLES = {"ANCRE": ["LECTEUR"]}


# --- discovery ------------------------------------------------------------------------


def test_the_discovery_document_is_complete_and_truthful(sqlite: Scene) -> None:
    op = sqlite.op
    meta = op.metadata
    assert meta["issuer"] == op.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                 "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert meta[name].startswith(op.issuer + "/"), name
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["subject_types_supported"] == ["public"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        meta["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} <= set(
        meta["token_endpoint_auth_methods_supported"])
    assert {"openid", "profile", "email", "phone", "habilitations", "offline_access"} <= set(
        meta["scopes_supported"])
    assert {"sub", "profile", "entity", "roles", "email", "given_name", "family_name",
            "acr", "amr", "auth_time", "sid"} <= set(meta["claims_supported"])
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False
    assert meta["claims_parameter_supported"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "none" not in meta["id_token_signing_alg_values_supported"]

    # The algorithms announced are those of the published keys, and nothing private leaks.
    published = op.jwks()["keys"]
    assert {k["alg"] for k in published} == set(meta["id_token_signing_alg_values_supported"])
    assert set(meta["userinfo_signing_alg_values_supported"]) <= {k["alg"] for k in published}
    assert len({k["kid"] for k in published}) == len(published)
    for key in published:
        assert key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        jwt.PyJWK(key)  # usable by a standard library

    # Every endpoint answers (with the error its protocol prescribes for an empty call).
    page = requests.get(meta["authorization_endpoint"], timeout=10)
    assert page.status_code == 400 and "Connexion impossible" in page.text
    token = requests.post(meta["token_endpoint"], data={}, timeout=10)
    assert token.status_code == 400 and "error" in token.json()
    info = requests.get(meta["userinfo_endpoint"], timeout=10)
    assert info.status_code == 401 and info.headers["WWW-Authenticate"].startswith("Bearer")
    for name in ("introspection_endpoint", "revocation_endpoint"):
        answer = requests.post(meta[name], data={"token": "x"}, timeout=10)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", name
    if "end_session_endpoint" in meta:
        assert meta["end_session_endpoint"].startswith(op.issuer + "/")
        assert requests.get(meta["end_session_endpoint"], timeout=10).status_code < 500


# --- login with a profile -------------------------------------------------------------


def test_a_person_with_one_eligible_profile_is_not_asked_to_choose(sqlite: Scene) -> None:
    """Élodie holds a TDBESMS role on profile X only: Tableau de bord ESMS gets X."""
    people = sqlite.people
    rp = register(sqlite.op, ("TDBESMS",), name="TdB ESMS")
    browser = Browser(sqlite.op)

    tokens = rp.login(browser, people.person)

    assert not any(url.endswith("/profil") for url in browser.history)
    assert_profile(tokens.id_claims, people, "x", {"TDBESMS": ["GESTIONNAIRE_FICHIERS"]})
    # roles are restricted to the client's domains: profile X's ANCRE role is not shown
    assert "ANCRE" not in tokens.id_claims["roles"]
    claims = tokens.id_claims
    assert claims["at_hash"]  # checked against the access token by verify_id_token
    assert claims["acr"] == "eidas1" and claims["amr"] == ["pwd"]
    assert claims["sid"] and isinstance(claims["auth_time"], int)
    assert claims["given_name"] == "Élodie" and claims["family_name"] == "Martin"
    assert claims["preferred_username"] == people.person


def test_two_profiles_the_choice_page_then_the_chosen_profile_in_every_token(
        any_scene: Scene) -> None:
    op, people = any_scene.op, any_scene.people
    rp = register(op)
    browser = Browser(op)
    request = rp.begin()

    page = browser.authorize(request.url, people.person, stop_at="profile_choice")

    assert isinstance(page, Page) and page.kind == "profile_choice"
    text = page.text
    assert "Choisissez le profil avec lequel vous souhaitez vous connecter" in text
    for label, entity, finess in ((people.label_x, people.entity_x, people.finess_x),
                                  (people.label_y, people.entity_y, people.finess_y)):
        assert label in text and entity in text and f"FINESS {finess}" in text
    form = page.forms[page.form_with("profile")]
    assert sorted(form.radios["profile"]) == sorted(
        [str(people.profile_x), str(people.profile_y)])
    assert "Valider" in text

    arrival = browser.submit(page, form_index=page.form_with("profile"),
                             profile=str(people.profile_y))
    tokens = rp.exchange(request, rp.code_from(request, arrival))

    assert_profile(tokens.id_claims, people, "y", Y_ROLES)
    access = rp.verify_access_token(tokens.access_token)
    assert jwt.get_unverified_header(tokens.access_token)["typ"] == "at+jwt"
    assert_profile(access, people, "y", Y_ROLES)
    assert access["sid"] == tokens.id_claims["sid"]
    info = rp.userinfo(tokens.access_token)
    assert info.status_code == 200
    assert_profile(info.json(), people, "y", Y_ROLES)
    assert rp.userinfo(tokens.access_token, method="POST").json() == info.json()

    # Next time, in another browser, the last choice for this application is pre-selected.
    again = Browser(op).authorize(rp.begin().url, people.person, stop_at="profile_choice")
    assert isinstance(again, Page) and again.kind == "profile_choice"
    assert again.forms[again.form_with("profile")].fields["profile"] == str(people.profile_y)


def test_prompt_select_account_shows_the_choice_even_with_one_profile(sqlite: Scene) -> None:
    people = sqlite.people
    rp = register(sqlite.op, ("TDBESMS",), name="TdB ESMS")
    browser = Browser(sqlite.op)
    rp.login(browser, people.person)  # signed in, profile X chosen silently

    request = rp.begin(prompt="select_account")
    page = browser.authorize(request.url, stop_at="profile_choice")

    assert isinstance(page, Page) and page.kind == "profile_choice"
    assert page.forms[page.form_with("profile")].radios["profile"] == [str(people.profile_x)]
    arrival = browser.submit(page, form_index=page.form_with("profile"))
    tokens = rp.exchange(request, rp.code_from(request, arrival))
    assert tokens.id_claims["profile"]["id"] == str(people.profile_x)


def test_no_valid_right_names_the_domain_and_the_administrators(sqlite: Scene) -> None:
    people = sqlite.people
    rp = register(sqlite.op, ("SCANSANTE",), name="Scan Santé")
    browser = Browser(sqlite.op)
    request = rp.begin()

    page = browser.authorize(request.url, people.person)

    assert isinstance(page, Page) and page.status == 403
    text = page.text
    assert "Vous n'avez aucun droit valide défini au niveau de votre compte utilisateur" in text
    assert "Scan Santé" in text  # the domain needed
    assert people.ape_name in text and people.ape_email in text  # who to contact
    arrival = browser.submit(page, form_index=page.form_to("/abandon"))
    assert isinstance(arrival, Arrival) and arrival.url == rp.redirect_uri
    assert arrival.params["error"] == "access_denied"
    assert arrival.params["state"] == request.state
    assert arrival.params["iss"] == sqlite.op.issuer
    assert "code" not in arrival.params


def test_a_profile_with_two_exclusive_roles_is_explained_and_refused(sqlite: Scene) -> None:
    people = sqlite.people
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    request = rp.begin()

    page = browser.authorize(request.url, people.conflicted)

    assert isinstance(page, Page) and page.status == 403
    text = page.text
    assert "rôles incompatibles" in text
    assert people.conflicted_label in text
    assert "Gestionnaire de fichiers" in text and "Lecteur" in text
    assert people.ape_name in text and people.ape_email in text
    arrival = browser.submit(page, form_index=page.form_to("/abandon"))
    assert isinstance(arrival, Arrival)
    assert arrival.params["error"] == "access_denied"
    assert arrival.params["state"] == request.state


def test_the_selected_profile_belongs_to_the_client_not_to_the_browser(
        any_scene: Scene) -> None:
    """Keycloak issue 42836 must not happen here: app A keeps profile X after the same
    browser signed in to app B with profile Y, also after A refreshes its tokens."""
    op, people = any_scene.op, any_scene.people
    app_a, app_b = register(op, name="ANCRE A"), register(op, name="ANCRE B")
    browser = Browser(op)

    a_tokens = app_a.login(browser, people.person, profile=people.profile_x)
    b_tokens = app_b.login(browser, people.person, profile=people.profile_y)
    assert_profile(b_tokens.id_claims, people, "y", Y_ROLES)
    assert b_tokens.id_claims["sid"] == a_tokens.id_claims["sid"]  # one SSO session
    # The provider's own profile menu too points at Y now.
    home = browser.open(f"{op.issuer}/compte/")
    assert isinstance(home, Page)
    menu = home.form_to("/profil-actif")
    browser.submit(home, form_index=menu, profile=str(people.profile_y))

    assert_profile(app_a.userinfo(a_tokens.access_token).json(), people, "x", X_ROLES)
    refreshed = app_a.refresh(a_tokens.refresh_token or "")
    assert_profile(refreshed.id_claims, people, "x", X_ROLES)
    assert_profile(app_a.verify_access_token(refreshed.access_token), people, "x", X_ROLES)
    assert_profile(app_a.userinfo(refreshed.access_token).json(), people, "x", X_ROLES)
    # A silent re-authorization of A (prompt=none) gives A its own last choice, X.
    silent = app_a.begin(prompt="none")
    tokens = app_a.exchange(silent, app_a.code_from(silent, browser.authorize(silent.url)))
    assert_profile(tokens.id_claims, people, "x", X_ROLES)


# --- refresh tokens -------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
        any_scene: Scene) -> None:
    op, people = any_scene.op, any_scene.people
    rp = register(op)
    first = rp.login(Browser(op), people.person, profile=people.profile_x)

    # Another client presenting it gets nothing, and does not spend it.
    thief = register(op, name="Autre application")
    stolen = thief.token_request({"grant_type": "refresh_token",
                                  "refresh_token": first.refresh_token or ""})
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"

    raw = rp.token_request({"grant_type": "refresh_token",
                            "refresh_token": first.refresh_token or ""})
    assert raw.status_code == 200
    assert raw.headers["Cache-Control"] == "no-store"
    second = rp.tokens(raw.json(), nonce=None)
    third = rp.refresh(second.refresh_token or "")
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert len({first.access_token, second.access_token, third.access_token}) == 3
    # A refreshed ID token keeps the original authentication.
    for key in ("sub", "auth_time", "sid", "acr"):
        assert third.id_claims[key] == first.id_claims[key]
    assert rp.userinfo(third.access_token).status_code == 200

    reuse = rp.token_request({"grant_type": "refresh_token",
                              "refresh_token": first.refresh_token or ""})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"

    # The whole family is revoked: the newest refresh and access tokens stop working.
    newest = rp.token_request({"grant_type": "refresh_token",
                               "refresh_token": third.refresh_token or ""})
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    assert rp.userinfo(third.access_token).status_code == 401
    assert rp.introspect(third.access_token).json() == {"active": False}


def test_offline_access_is_granted_and_refreshable(sqlite: Scene) -> None:
    rp = register(sqlite.op, scope=f"{SCOPE} offline_access")
    tokens = rp.login(Browser(sqlite.op), sqlite.people.person, profile=sqlite.people.profile_x)
    assert "offline_access" in tokens.scopes
    assert tokens.refresh_token
    refreshed = rp.refresh(tokens.refresh_token)
    assert "offline_access" in rp.verify_access_token(refreshed.access_token)["scope"].split()
    introspection = rp.introspect(refreshed.refresh_token or "", hint="refresh_token").json()
    assert introspection["active"] is True
    assert "offline_access" in introspection["scope"].split()


# --- introspection and revocation -----------------------------------------------------


def test_introspection_by_the_owning_confidential_client_only(sqlite: Scene) -> None:
    op, people = sqlite.op, sqlite.people
    rp = register(op)
    other = register(op, name="Autre application")
    public = register(op, name="Application mobile", auth_method="none")
    tokens = rp.login(Browser(op), people.person, profile=people.profile_y)

    access = rp.introspect(tokens.access_token).json()
    assert access["active"] is True
    assert access["sub"] == people.person and access["client_id"] == rp.client_id
    assert access["scope"].split() == tokens.scopes
    assert access["exp"] > access["iat"]
    assert access["roles"] == Y_ROLES
    refresh = rp.introspect(tokens.refresh_token or "", hint="refresh_token").json()
    assert refresh["active"] is True and refresh["client_id"] == rp.client_id
    assert rp.introspect("not-a-token").json() == {"active": False}
    assert rp.introspect(tokens.id_token).json() == {"active": False}

    # Another confidential client learns nothing about rp's token.
    assert other.introspect(tokens.access_token).json() == {"active": False}
    # A public client may not introspect at all.
    refused = public.introspect(tokens.access_token)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_revoking_a_refresh_token_kills_its_access_tokens(sqlite: Scene) -> None:
    op, people = sqlite.op, sqlite.people
    rp = register(op)
    tokens = rp.login(Browser(op), people.person, profile=people.profile_x)
    assert rp.userinfo(tokens.access_token).status_code == 200

    answer = rp.revoke(tokens.refresh_token or "", hint="refresh_token")

    assert answer.status_code == 200
    assert rp.userinfo(tokens.access_token).status_code == 401
    assert rp.introspect(tokens.access_token).json() == {"active": False}
    again = rp.token_request({"grant_type": "refresh_token",
                              "refresh_token": tokens.refresh_token or ""})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # RFC 7009 §2.2: an unknown or already revoked token is answered 200 as well.
    assert rp.revoke(tokens.refresh_token or "").status_code == 200
    assert rp.revoke("never-issued").status_code == 200


def test_revoking_an_access_token_and_who_may_revoke(sqlite: Scene) -> None:
    op, people = sqlite.op, sqlite.people
    rp = register(op)
    other = register(op, name="Autre application")
    public = register(op, name="Application mobile", auth_method="none")
    tokens = rp.login(Browser(op), people.person, profile=people.profile_x)

    assert public.revoke(tokens.access_token).status_code == 401
    foreign = other.revoke(tokens.access_token)  # not its token: refused, nothing revoked
    assert foreign.status_code == 400
    assert rp.userinfo(tokens.access_token).status_code == 200

    assert rp.revoke(tokens.access_token, hint="access_token").status_code == 200
    assert rp.userinfo(tokens.access_token).status_code == 401
    refused = rp.token_request({"grant_type": "refresh_token",
                                "refresh_token": tokens.refresh_token or ""})
    assert refused.json()["error"] == "invalid_grant"


# --- client authentication ------------------------------------------------------------


def test_client_secret_post(sqlite: Scene) -> None:
    rp = register(sqlite.op, auth_method="client_secret_post")
    tokens = rp.login(Browser(sqlite.op), sqlite.people.person, profile=sqlite.people.profile_y)
    assert_profile(tokens.id_claims, sqlite.people, "y", Y_ROLES)
    assert rp.refresh(tokens.refresh_token or "").refresh_token
    # The registered method only: the same secret in a Basic header is refused.
    rp.auth_method = "client_secret_basic"
    refused = rp.token_request({"grant_type": "refresh_token",
                                "refresh_token": tokens.refresh_token or ""})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_a_public_client_with_pkce_and_no_secret(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="Application mobile", auth_method="none")
    tokens = rp.login(Browser(sqlite.op), sqlite.people.person, profile=sqlite.people.profile_x)
    assert_profile(tokens.id_claims, sqlite.people, "x", X_ROLES)
    assert rp.refresh(tokens.refresh_token or "").id_claims["sub"] == sqlite.people.person


def test_private_key_jwt_and_its_replay(sqlite: Scene) -> None:
    rp = register(sqlite.op, auth_method="private_key_jwt")
    browser = Browser(sqlite.op)
    tokens = rp.login(browser, sqlite.people.person, profile=sqlite.people.profile_x)
    assert_profile(tokens.id_claims, sqlite.people, "x", X_ROLES)

    # The same authentication works at introspection (audience: that endpoint).
    assert rp.introspect(tokens.access_token).json()["active"] is True

    # A client assertion is single use (its jti is remembered).
    assertion = rp.assertion()
    body = {"grant_type": "refresh_token", "client_id": rp.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    first = requests.post(sqlite.op.endpoint("token"),
                          data={**body, "refresh_token": tokens.refresh_token}, timeout=10)
    assert first.status_code == 200, first.text
    replay = requests.post(sqlite.op.endpoint("token"),
                           data={**body, "refresh_token": first.json()["refresh_token"]},
                           timeout=10)
    # RFC 6749 §5.2: 400 unless the client authenticated with an Authorization header.
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_client"

    # An assertion signed with another key, or for another audience, is refused too.
    impostor = register(sqlite.op, auth_method="private_key_jwt")
    forged = jwt.encode(jwt.decode(rp.assertion(), options={"verify_signature": False}),
                        impostor.private_key, algorithm="RS256", headers={"kid": rp.key_id})
    for bad in (forged, rp.assertion(audience="https://elsewhere.test/token")):
        answer = requests.post(sqlite.op.endpoint("token"), timeout=10, data={
            **body, "client_assertion": bad,
            "refresh_token": first.json()["refresh_token"]})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_client"


def test_client_credentials_for_a_machine_client(sqlite: Scene) -> None:
    op = sqlite.op
    rp = register(op, name="Batch ANCRE", grant_types=["client_credentials"],
                  redirect_uri="https://batch.rp.test/unused")
    raw = rp.client_credentials()
    assert "refresh_token" not in raw and "id_token" not in raw
    claims = rp.verify_access_token(raw["access_token"])
    assert claims["sub"] == rp.client_id and claims["client_id"] == rp.client_id
    assert "profile" not in claims and "roles" not in claims
    # Not an OpenID Connect token: userinfo has nobody to describe.
    assert rp.userinfo(raw["access_token"]).status_code in (401, 403)
    # A client registered for the code flow only may not use this grant.
    interactive = register(op)
    refused = interactive.token_request({"grant_type": "client_credentials"})
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    # ... and the machine client cannot start an interactive login.
    arrival = Browser(op).authorize(rp.begin().url)
    assert isinstance(arrival, Arrival) and arrival.params["error"] == "unauthorized_client"


# --- responses and claims -------------------------------------------------------------


def test_form_post_response_mode(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    request = rp.begin(response_mode="form_post")
    arrival = Browser(sqlite.op).authorize(request.url, sqlite.people.person,
                                          profile=sqlite.people.profile_y)
    assert isinstance(arrival, Arrival) and arrival.mode == "form_post"
    assert set(arrival.params) == {"code", "state", "iss"}
    tokens = rp.exchange(request, rp.code_from(request, arrival))
    assert_profile(tokens.id_claims, sqlite.people, "y", Y_ROLES)


def test_each_id_token_carries_the_nonce_of_its_own_request(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    first, second = rp.begin(), rp.begin()
    first_arrival = browser.authorize(first.url, sqlite.people.person,
                                      profile=sqlite.people.profile_x)
    second_arrival = browser.authorize(second.url, profile=sqlite.people.profile_x)
    second_tokens = rp.exchange(second, rp.code_from(second, second_arrival))
    first_tokens = rp.exchange(first, rp.code_from(first, first_arrival))
    assert first_tokens.id_claims["nonce"] == first.nonce
    assert second_tokens.id_claims["nonce"] == second.nonce
    with pytest.raises(AssertionError, match="nonce"):
        rp.verify_id_token(first_tokens.id_token, nonce=second.nonce)
    # Without a nonce in the request, none in the ID token.
    plain = rp.begin(with_nonce=False)
    tokens = rp.exchange(plain, rp.code_from(plain, browser.authorize(plain.url)))
    assert "nonce" not in tokens.id_claims


def test_signed_userinfo(sqlite: Scene) -> None:
    rp = register(sqlite.op, userinfo_signed_response_alg="ES256")
    tokens = rp.login(Browser(sqlite.op), sqlite.people.person, profile=sqlite.people.profile_x)

    answer = rp.userinfo(tokens.access_token)

    assert answer.headers["Content-Type"].startswith("application/jwt")
    header = jwt.get_unverified_header(answer.text)
    assert header["alg"] == "ES256" and header["kid"]
    claims = jwt.decode(answer.text, rp.jwks_client.get_signing_key_from_jwt(answer.text).key,
                        algorithms=["ES256"], audience=rp.client_id,
                        issuer=sqlite.op.issuer)
    assert_profile(claims, sqlite.people, "x", X_ROLES)


def test_an_es256_id_token_for_a_client_that_registered_it(sqlite: Scene) -> None:
    rp = register(sqlite.op, id_token_signed_response_alg="ES256")
    tokens = rp.login(Browser(sqlite.op), sqlite.people.person, profile=sqlite.people.profile_x)
    assert tokens.id_header["alg"] == "ES256"
    rp.verify_id_token(tokens.id_token, algorithms=("ES256",))
    ec_kids = {k["kid"] for k in sqlite.op.jwks()["keys"] if k["kty"] == "EC"}
    assert tokens.id_header["kid"] in ec_kids
    # RFC 9068 access tokens stay RS256, what every resource server accepts.
    assert jwt.get_unverified_header(tokens.access_token)["alg"] == "RS256"


def test_essential_claims_requested_with_the_claims_parameter(sqlite: Scene) -> None:
    op, people = sqlite.op, sqlite.people
    rp = register(op, scope="openid habilitations")
    claims = {"id_token": {"email": {"essential": True}},
              "userinfo": {"given_name": None}}
    request = rp.begin(claims=json.dumps(claims))
    arrival = Browser(op).authorize(request.url, people.person, profile=people.profile_x)
    tokens = rp.exchange(request, rp.code_from(request, arrival))

    assert tokens.id_claims["email"] == "élodie.martin@example.test"
    assert "given_name" not in tokens.id_claims
    info = rp.userinfo(tokens.access_token).json()
    assert info["given_name"] == "Élodie"
    assert "email" not in info

    # A client not allowed the email scope does not get the claim by asking for it.
    restricted = register(op, scope="openid habilitations",
                          allowed_scopes=["openid", "habilitations"])
    request = restricted.begin(claims=json.dumps(claims))
    arrival = Browser(op).authorize(request.url, people.person, profile=people.profile_x)
    tokens = restricted.exchange(request, restricted.code_from(request, arrival))
    assert "email" not in tokens.id_claims
    assert "given_name" not in restricted.userinfo(tokens.access_token).json()


def test_consent_covers_the_claims_requested_one_by_one(sqlite: Scene) -> None:
    """A third-party client asking for the email through `claims` must have it shown on
    the consent page, not receive it behind the person's back."""
    op, people = sqlite.op, sqlite.people
    rp = register(op, name="Application partenaire", first_party=False,
                  scope="openid habilitations")
    request = rp.begin(claims=json.dumps({"id_token": {"email": {"essential": True}}}))
    page = Browser(op).authorize(request.url, people.person, stop_at="consent")
    assert isinstance(page, Page) and page.kind == "consent"
    assert 'data-scope="email"' in page.html
    assert 'data-scope="habilitations"' in page.html


def test_consent_is_asked_once_per_set_of_scopes(sqlite: Scene) -> None:
    op, people = sqlite.op, sqlite.people
    rp = register(op, ("TDBESMS",), name="Application partenaire", first_party=False,
                  scope="openid profile habilitations")

    page = Browser(op).authorize(rp.begin().url, people.person, stop_at="consent")
    assert isinstance(page, Page) and page.kind == "consent"
    assert "L'application Application partenaire demande à accéder à vos informations" in (
        page.text)
    assert "Vos nom, prénom et identifiant Plage" in page.text
    assert 'data-scope="profile"' in page.html and 'data-scope="habilitations"' in page.html
    assert 'data-scope="email"' not in page.html
    assert rp.login(Browser(op), people.person).id_claims["sub"] == people.person

    # Remembered: the same scopes again, in another browser, go straight through.
    browser = Browser(op)
    rp.login(browser, people.person)
    assert not any(url.endswith("/consentement") for url in browser.history)
    # A new scope, or prompt=consent, asks again.
    for request in (rp.begin(scope="openid profile habilitations email"),
                    rp.begin(prompt="consent")):
        page = browser.authorize(request.url, stop_at="consent")
        assert isinstance(page, Page) and page.kind == "consent", request.url


# --- keys -----------------------------------------------------------------------------


def test_key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
        make_app: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its own provider: the rotation changes the keys for everyone."""
    with serving(make_app) as serve:
        op = serve(sqlite_url)
        people = op.run(ancre_people)
        rp = register(op)
        browser = Browser(op)
        before = rp.login(browser, people.person, profile=people.profile_x)
        old_kid = before.id_header["kid"]

        def rotate() -> str:
            row = keys.rotate("RS256", "test-passphrase", Actor(label="test"),
                              retire_after=timedelta(hours=1))
            db.session.commit()
            return row.kid

        new_kid = op.run(rotate)
        assert new_kid != old_kid
        published = {k["kid"] for k in op.jwks()["keys"]}
        assert {old_kid, new_kid} <= published

        # A relying application that fetches the JWKS afresh still verifies old tokens.
        fresh = RelyingParty(op, rp.client_id, rp.client_secret, rp.redirect_uri)
        fresh.verify_id_token(before.id_token)
        fresh.verify_access_token(before.access_token)
        assert rp.userinfo(before.access_token).status_code == 200

        # New tokens carry the new kid; rp's cached JWKS learns it (unknown kid -> refetch).
        after = rp.refresh(before.refresh_token or "")
        assert after.id_header["kid"] == new_kid
        assert jwt.get_unverified_header(after.access_token)["kid"] == new_kid
        login_after = rp.login(Browser(op), people.person, profile=people.profile_y)
        assert login_after.id_header["kid"] == new_kid

        # Once its publication ends, the old key is gone and so are its tokens.
        def end_publication() -> None:
            row = db.session.get(SigningKey, old_kid)
            assert row is not None
            row.publish_until = row.retired_at
            db.session.commit()

        op.run(end_publication)
        assert old_kid not in {k["kid"] for k in op.jwks()["keys"]}
        assert rp.userinfo(before.access_token).status_code == 401
        assert rp.userinfo(after.access_token).status_code == 200


def test_the_redis_scene_keeps_codes_and_sessions_in_redis(redis_scene: Scene) -> None:
    """The short-lived store really is Redis there: nothing of it lands in SQLite."""
    import redis as redis_lib

    op, people = redis_scene.op, redis_scene.people
    rp = register(op)
    tokens = rp.login(Browser(op), people.person, profile=people.profile_y)
    assert_profile(tokens.id_claims, people, "y", Y_ROLES)
    with redis_lib.Redis.from_url(op.app.config["IDP"]["redis"]["url"]) as client:
        stored = [k.decode() for k in client.keys("idp:*")]
    assert any(k.startswith("idp:session:") for k in stored)
    assert any(k.startswith("idp:code-used:") for k in stored)


def test_tokens_do_not_outlive_the_rights_they_carry(sqlite: Scene) -> None:
    """The APE withdraws the ANCRE role of the chosen profile: the application's next
    refresh is refused (the grant is revoked) and userinfo stops answering."""
    op = sqlite.op

    def newcomer() -> tuple[str, int]:
        from idp.directory import services
        from idp.directory.models import Entity
        from tests.support import directory

        entity = db.session.scalar(db.select(Entity).filter_by(name="EHPAD Le Verger"))
        account = directory.account("Hugo", "Lefèvre")
        profile = directory.profile(account, entity, "Comptable", "ANCRE/LECTEUR")
        db.session.commit()
        assert services.get_profile(profile.id).habilitations
        return account.identifier, profile.id

    identifier, profile_id = op.run(newcomer)
    rp = register(op)
    browser = Browser(op)
    tokens = rp.login(browser, identifier)
    assert tokens.id_claims["roles"] == {"ANCRE": ["LECTEUR"]}

    def withdraw() -> None:
        from idp.directory import services

        services.revoke(services.get_profile(profile_id),
                        services.get_role("ANCRE", "LECTEUR"), Actor(label="APE"))
        db.session.commit()

    op.run(withdraw)
    refused = rp.token_request({"grant_type": "refresh_token",
                                "refresh_token": tokens.refresh_token or ""})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert rp.userinfo(tokens.access_token).status_code == 401
    # Still signed in to the provider, the same browser gets no new code either.
    page = browser.authorize(rp.begin().url)
    assert isinstance(page, Page) and page.status == 403
    assert "aucun droit valide" in page.text


def test_a_profile_that_comes_to_hold_two_exclusive_roles_loses_refresh_and_userinfo(
        sqlite: Scene) -> None:
    """Login, refresh and userinfo apply one rule. Inès signs in to ANCRE as Lecteur; then
    her profile comes to hold Gestionnaire de fichiers too (inserted behind the rules'
    back, as legacy data would be): the login would refuse it, so userinfo stops
    answering and the next refresh is refused, where both worked before."""
    op = sqlite.op

    def newcomer() -> tuple[str, int]:
        from idp.directory.models import Entity
        from tests.support import directory

        entity = db.session.scalar(db.select(Entity).filter_by(name="EHPAD Le Verger"))
        account = directory.account("Inès", "Roussel")
        profile = directory.profile(account, entity, "Secrétaire", "ANCRE/LECTEUR")
        db.session.commit()
        return account.identifier, profile.id

    identifier, profile_id = op.run(newcomer)
    rp = register(op)
    browser = Browser(op)
    tokens = rp.refresh(rp.login(browser, identifier).refresh_token or "")
    assert rp.userinfo(tokens.access_token).status_code == 200

    def legacy_second_role() -> None:
        from idp.directory import services
        from idp.directory.models import Habilitation

        role = services.get_role("ANCRE", "GESTIONNAIRE_FICHIERS")
        db.session.add(Habilitation(profile_id=profile_id, role_id=role.id))
        db.session.commit()

    op.run(legacy_second_role)
    assert rp.userinfo(tokens.access_token).status_code == 401
    refused = rp.token_request({"grant_type": "refresh_token",
                                "refresh_token": tokens.refresh_token or ""})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    page = browser.authorize(rp.begin().url)  # still signed in: the login explains
    assert isinstance(page, Page) and page.status == 403
    assert "rôles incompatibles" in page.text
