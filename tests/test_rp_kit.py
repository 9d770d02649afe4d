"""The relying-party kit (idp.rp) against the real provider, both served over HTTP.

A small application built with the kit (tests.support.rp.kit_app) signs people in
through the provider's real pages; the tokens it validates are the provider's own, or
forged here with the provider's signing key to reach the cases a well-behaved provider
never produces (expired, foreign audience...).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import html
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import create_engine, select, update

from idp.clients.models import Client
from idp.directory import services
from idp.directory.enums import EntityType
from idp.extensions import db
from idp.keys import service as keys
from idp.oidc import backchannel, grants_store
from idp.oidc.server import signing_keyset
from idp.outbox import service as outbox
from idp.rp import (
    InvalidToken,
    PairingConflict,
    UnknownKey,
    list_pairings,
    pair,
    unpair,
    validate_access_token,
    validate_id_token,
)
from idp.rp.models import sessions
from idp.rp.provider import Provider, cache_lifetime
from idp.rp.sessions import end_sessions
from idp.rp.state import kit
from tests.support import directory as d
from tests.support.oidc import Page, Serve
from tests.support.oidc import Provider as ServedProvider
from tests.support.rp import AppBrowser, app_server, kit_app

RP_PACKAGE = Path(__file__).resolve().parents[1] / "idp" / "rp"
ACTOR = d.ACTOR
EXPIRED = "Votre session a expiré ou a été fermée."
NO_VALID_RIGHT = ("Vous n'avez aucun droit valide défini au niveau de votre compte "
                  "utilisateur. Merci de vous rapprocher de votre administrateur.")
INSUFFICIENT = ("Vous n'avez pas les permissions suffisantes pour accéder à cette page. "
                "Seuls les rôles OG, ESMS, ARS, CD, NATIONAL sont autorisés")


@dataclass
class Kit:
    """The provider, the kit's application registered with it, and who can sign in."""

    op: ServedProvider
    app: Flask
    base: str
    client_id: str
    people: dict[str, str]  # role in the test -> PLAGE identifier
    serve_kit: Callable[..., tuple[Flask, str, str]]

    def another_app(self, name: str, client: dict[str, Any] | None = None,
                    database_url: str | None = None, **config: Any) -> str:
        """Another application built with the kit, registered too (`client`: settings of
        its registration); its base URL."""
        return self.serve_kit(name, client, database_url, **config)[1]

    def browser(self, *others: str) -> AppBrowser:
        return AppBrowser(self.op, [self.base, *others])

    def sign_in(self, who: str = "directrice", path: str = "/moi") -> AppBrowser:
        browser = self.browser()
        page = browser.sign_in_to(self.base + path, self.people[who])
        assert page.status == 200, (page.url, page.text[:500])
        return browser

    def tokens(self, browser: AppBrowser) -> dict[str, str]:
        return browser.http.get(self.base + "/jetons", timeout=10).json()

    def provider(self) -> Provider:
        with self.app.app_context():
            return kit().provider

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A token signed with the provider's active RS256 key."""
        return self.op.run(lambda: jwt.encode({"alg": "RS256", **header}, claims,
                                              signing_keyset("RS256")))


def _world() -> dict[str, str]:
    world = d.ancre_world()  # Élodie Martin: TDBESMS Gestionnaire on an ESMS
    lone_ej = d.entity(d.finess("25000301"), EntityType.EJ, "CH de Pontarlier",
                       finess_number=d.finess("25000301"), departement="25", region="27")
    d.entity(d.finess("25000302"), EntityType.ET, "EHPAD de Pontarlier",
             finess_number=d.finess("25000302"), departement="25", region="27",
             managing_og=lone_ej, parent=lone_ej)
    comptable = d.account("Jean", "Dupont")
    d.profile(comptable, lone_ej, "Comptabilité CH", "TDBESMS/LECTEUR")
    db.session.commit()
    return {"directrice": world.person.identifier, "sans_droit": world.outsider.identifier,
            "ej": comptable.identifier}


@pytest.fixture
def kit_world(serve: Serve, sqlite_url: str,
              tmp_path: Path) -> Iterator[Kit]:
    with app_server() as serve_app:
        op = serve(sqlite_url)
        people = op.run(_world)

        def serve_kit(name: str = "kit", client: dict[str, Any] | None = None,
                      database_url: str | None = None,
                      **config: Any) -> tuple[Flask, str, str]:
            registered: dict[str, str] = {}

            def build(base: str) -> Flask:
                def register() -> tuple[str, str | None]:
                    client_row, secret = d.client(
                        f"Application {name}", ["TDBESMS"], [f"{base}/plage/callback"],
                        post_logout_redirect_uris=[f"{base}/plage/deconnecte"],
                        backchannel_logout_uri=f"{base}/plage/backchannel-logout",
                        **(client or {}))
                    db.session.commit()
                    return client_row.client_id, secret

                client_id, secret = op.run(register)
                registered["client_id"] = client_id
                return kit_app(op.issuer, client_id, secret,
                               database_url or f"sqlite:///{tmp_path / f'{name}.sqlite3'}",
                               **config)

            app, base = serve_app(build)
            return app, base, registered["client_id"]

        app, base, client_id = serve_kit()
        yield Kit(op, app, base, client_id, people, serve_kit)
        assert outbox.wait_idle(20)


def text(page: Page | Any) -> str:
    assert isinstance(page, Page), page
    return " ".join(page.text.split())


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


# --- signing in -----------------------------------------------------------------------


def test_a_person_signs_in_and_the_app_knows_her_profile(kit_world: Kit) -> None:
    browser = kit_world.sign_in()
    me = browser.http.get(kit_world.base + "/moi", timeout=10).json()
    assert me["sub"] == kit_world.people["directrice"]
    assert me["name"] == "Élodie MARTIN"
    assert me["entity"]["type"] == "ET" and me["entity"]["name"] == "EHPAD Les Tilleuls"
    assert me["roles"] == {"TDBESMS": ["GESTIONNAIRE_FICHIERS"]}
    assert me["sid"]
    # The cookie is a random id; the tokens stay on the server, found by the provider's sid.
    cookie = browser.cookie(f"{kit_world.client_id}_session")  # not Flask's "session"
    assert cookie and "." not in cookie
    with kit_world.app.app_context():
        engine = kit().engine
    with engine.connect() as conn:
        rows = conn.execute(sessions.select()).all()
    assert [(r.sub, r.sid) for r in rows] == [(me["sub"], me["sid"])]
    assert cookie not in str(rows[0].data)
    # Discovery and keys fetched once, then served from the cache (max-age).
    assert kit_world.provider().fetches == {"metadata": 1, "jwks": 1}
    assert browser.page(kit_world.base + "/tdb").text == "Tableau de bord"
    kit_world.sign_in()
    assert kit_world.provider().fetches == {"metadata": 1, "jwks": 1}


def test_after_sign_in_the_kit_never_follows_a_way_out(kit_world: Kit) -> None:
    """`next=/\t/evil.example` would become //evil.example once the tab is dropped."""
    browser = kit_world.browser()
    page = browser.sign_in_to(kit_world.base + "/plage/connexion?next=/%09/evil.example",
                              kit_world.people["directrice"])
    assert page.url.startswith(kit_world.base + "/")


def test_es256_id_tokens_and_a_public_client_with_pkce(kit_world: Kit) -> None:
    base = kit_world.another_app("ec", client={"id_token_signed_response_alg": "ES256"})
    browser = kit_world.browser(base)
    browser.sign_in_to(base + "/moi", kit_world.people["directrice"])
    tokens = browser.http.get(base + "/jetons", timeout=10).json()
    assert header_of(tokens["id_token"])["alg"] == "ES256"
    public = kit_world.another_app("public", client={"public": True},
                                   PLAGE_TOKEN_AUTH_METHOD="none")
    browser = kit_world.browser(public)
    page = browser.sign_in_to(public + "/moi", kit_world.people["directrice"])
    assert page.status == 200 and json.loads(page.html)["sub"] == kit_world.people[
        "directrice"]


def test_an_unreachable_provider_is_said_in_french(tmp_path: Path) -> None:
    from tests.support.services import free_port

    app = kit_app(f"http://127.0.0.1:{free_port()}", "absent", "secret",
                  f"sqlite:///{tmp_path / 'down.sqlite3'}", PLAGE_HTTP_TIMEOUT=2)
    response = app.test_client().get("/moi", follow_redirects=True)
    assert response.status_code == 503
    assert "momentanément indisponible" in response.get_data(as_text=True)


def test_the_authorization_request_uses_pkce_state_and_nonce(kit_world: Kit) -> None:
    browser = kit_world.browser()
    response = browser.http.get(kit_world.base + "/plage/connexion?next=/moi",
                                allow_redirects=False, timeout=10)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(kit_world.op.issuer + "/authorize?")
    params = dict(parse_qsl(urlsplit(location).query))
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 20 and len(params["nonce"]) >= 20
    assert params["scope"] == "openid profile email habilitations"
    assert params["redirect_uri"] == kit_world.base + "/plage/callback"


def test_a_forged_state_is_refused(kit_world: Kit) -> None:
    browser = kit_world.browser()
    page = browser.page(kit_world.base + "/plage/callback?code=abc&state=forged")
    assert page.status == 400
    assert "Cette demande de connexion a expiré ou a déjà été utilisée." in text(page)


def test_an_id_token_with_another_nonce_is_refused(kit_world: Kit) -> None:
    browser = kit_world.browser()
    start = browser.http.get(kit_world.base + "/plage/connexion?next=/moi",
                             allow_redirects=False, timeout=10).headers["Location"]
    parts = urlsplit(start)
    params = dict(parse_qsl(parts.query))
    params["nonce"] = "not-the-nonce-the-application-sent"
    page = browser.authorize(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(params)}",
                             kit_world.people["directrice"])
    assert isinstance(page, Page) and page.status == 400
    assert "La connexion avec PLAGE a échoué" in text(page) and "invalid_token" in text(page)
    # Not signed in: the protected page sends to the provider again.
    again = browser.http.get(kit_world.base + "/moi", allow_redirects=False, timeout=10)
    assert again.status_code == 303 and "/plage/connexion" in again.headers["Location"]


def test_no_valid_right_shows_the_guides_message(kit_world: Kit) -> None:
    browser = kit_world.browser()
    page = browser.sign_in_to(kit_world.base + "/moi", kit_world.people["sans_droit"])
    assert page.status == 403 and NO_VALID_RIGHT in text(page)  # the provider's page
    back = browser.submit(page)  # "Retourner à l'application": access_denied
    assert isinstance(back, Page) and back.url.startswith(kit_world.base + "/plage/callback")
    assert back.status == 403 and NO_VALID_RIGHT in text(back)
    assert "Mes profils / habilitations" in text(back)


def test_an_ej_that_is_not_an_og_is_told_which_roles_are_allowed(kit_world: Kit) -> None:
    browser = kit_world.browser()
    page = browser.sign_in_to(kit_world.base + "/tdb", kit_world.people["ej"])
    assert page.status == 403
    assert INSUFFICIENT in text(page)
    assert "Changer de profil" in text(page)
    # Signed in all the same: other pages work.
    me = browser.http.get(kit_world.base + "/moi", timeout=10).json()
    assert me["entity"]["type"] == "EJ"


# --- sessions: expiry, refresh, logout ------------------------------------------------


def _kit_engine(app: Flask) -> Any:
    with app.app_context():
        return kit().engine


def test_an_expired_session_says_so(kit_world: Kit) -> None:
    browser = kit_world.sign_in()
    with _kit_engine(kit_world.app).begin() as conn:
        conn.execute(update(sessions).values(expires_at=time.time() - 1))
    page = browser.page(kit_world.base + "/moi")
    assert page.status == 401 and EXPIRED in text(page)
    relogin = next(link for link in re.findall(r'href="([^"]+)"', page.html)
                   if "/plage/connexion" in link)
    # "Se reconnecter" signs in again and comes back to the page asked for.
    again = browser.sign_in_to(kit_world.base + html.unescape(relogin),
                               kit_world.people["directrice"])
    assert again.status == 200 and again.url == kit_world.base + "/moi"


def test_the_access_token_is_refreshed_and_carries_the_new_roles(kit_world: Kit) -> None:
    base = kit_world.another_app("refresh", PLAGE_REFRESH_MARGIN=10**6)
    browser = kit_world.browser(base)
    browser.sign_in_to(base + "/moi", kit_world.people["directrice"])
    first = browser.http.get(base + "/jetons", timeout=10).json()

    def demote() -> None:
        person = services.get_account(kit_world.people["directrice"])
        profile = next(p for p in person.profiles if p.label.startswith("Directrice EHPAD Les"))
        services.revoke(profile, services.get_role("TDBESMS", "GESTIONNAIRE_FICHIERS"), ACTOR)
        services.grant(profile, services.get_role("TDBESMS", "LECTEUR"), ACTOR)
        db.session.commit()

    kit_world.op.run(demote)
    me = browser.http.get(base + "/moi", timeout=10).json()  # refreshes first
    assert me["roles"] == {"TDBESMS": ["LECTEUR"]}
    second = browser.http.get(base + "/jetons", timeout=10).json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]  # rotated by the provider


def test_a_refused_refresh_ends_the_session(kit_world: Kit) -> None:
    base = kit_world.another_app("revoked", PLAGE_REFRESH_MARGIN=10**6)
    browser = kit_world.browser(base)
    browser.sign_in_to(base + "/moi", kit_world.people["directrice"])
    sid = browser.http.get(base + "/moi", timeout=10).json()["sid"]

    def revoke() -> None:
        grants_store.revoke_session_grants(sid, "test")
        db.session.commit()

    kit_world.op.run(revoke)
    page = browser.page(base + "/moi")
    assert page.status == 401 and EXPIRED in text(page)


def test_back_channel_logout_ends_the_sessions_of_that_sid(kit_world: Kit) -> None:
    ended, kept = kit_world.sign_in(), kit_world.sign_in()
    sid = ended.http.get(kit_world.base + "/moi", timeout=10).json()["sid"]
    sub = kit_world.people["directrice"]

    def provider_logout_token() -> str:
        client = db.session.scalar(select(Client).where(
            Client.client_id == kit_world.client_id))
        return backchannel.logout_token(client, sid, sub)

    url = kit_world.base + "/plage/backchannel-logout"
    # Tokens that must not end anything: an ID token, a foreign audience, no event.
    now = int(time.time())
    base_claims = {"iss": kit_world.op.issuer, "aud": kit_world.client_id, "iat": now,
                   "exp": now + 120, "jti": "j1", "sid": sid, "sub": sub,
                   "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    refused = [
        kit_world.sign(base_claims, typ="JWT"),
        kit_world.sign({**base_claims, "aud": "another-client"}, typ="logout+jwt"),
        kit_world.sign({**base_claims, "events": {}}, typ="logout+jwt"),
        kit_world.sign({**base_claims, "nonce": "n"}, typ="logout+jwt"),
    ]
    for bad in refused:
        response = requests.post(url, data={"logout_token": bad}, timeout=10)
        assert response.status_code == 400, response.text
    assert ended.page(kit_world.base + "/moi").status == 200

    response = requests.post(url, timeout=10,
                             data={"logout_token": kit_world.op.run(provider_logout_token)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = ended.page(kit_world.base + "/moi")
    assert page.status == 401 and EXPIRED in text(page)
    # Another browser (another provider session, another sid) is still signed in.
    assert kept.http.get(kit_world.base + "/moi", timeout=10).status_code == 200


def test_logging_out_ends_the_provider_session_and_the_other_applications(
        kit_world: Kit) -> None:
    other = kit_world.another_app("autre")
    browser = kit_world.browser(other)
    browser.sign_in_to(kit_world.base + "/moi", kit_world.people["directrice"])
    page = browser.page(other + "/moi")  # single sign-on: no login page this time
    assert page.status == 200 and json.loads(page.html)["sub"] == kit_world.people[
        "directrice"]
    metadata = requests.get(kit_world.op.issuer + "/.well-known/openid-configuration",
                            timeout=10).json()
    assert metadata["end_session_endpoint"] and metadata["backchannel_logout_supported"]

    home = browser.page(kit_world.base + "/")
    response = browser.http.post(kit_world.base + "/plage/deconnexion",
                                 data=home.forms[0].fields, allow_redirects=False,
                                 timeout=10)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(metadata["end_session_endpoint"] + "?")
    params = dict(parse_qsl(urlsplit(location).query))
    assert params["post_logout_redirect_uri"] == kit_world.base + "/plage/deconnecte"
    assert claims_of(params["id_token_hint"])["sub"] == kit_world.people["directrice"]
    done = browser.page(location)
    assert done.url == kit_world.base + "/plage/deconnecte"
    assert "Vous êtes déconnecté de Application de test." in text(done)
    assert outbox.wait_idle(10)
    # The other application heard it by the back-channel: its session is over too.
    page = browser.page(other + "/moi")
    assert page.status == 401 and EXPIRED in text(page)


def test_forms_of_the_kit_need_their_csrf_token(kit_world: Kit) -> None:
    browser = kit_world.sign_in()
    response = browser.http.post(kit_world.base + "/plage/deconnexion",
                                 data={"csrf_token": "forged"}, timeout=10)
    assert response.status_code == 400
    assert browser.http.get(kit_world.base + "/moi", timeout=10).status_code == 200


def test_sessions_and_pairings_in_a_postgresql_database(kit_world: Kit,
                                                       postgresql_url: str) -> None:
    base = kit_world.another_app("pg", database_url=postgresql_url)
    browser = kit_world.browser(base)
    browser.sign_in_to(base + "/moi", kit_world.people["directrice"])
    me = browser.http.get(base + "/moi", timeout=10).json()
    engine = create_engine(postgresql_url)
    try:
        pair(engine, me["sub"], ["compte-1", "compte-2"])
        pair(engine, me["sub"], ["compte-1"])  # again: nothing changes
        with pytest.raises(PairingConflict):
            pair(engine, "someone-else", ["compte-2", "compte-3"])
        assert [p.local_account for p in list_pairings(engine)] == ["compte-1", "compte-2"]
        assert unpair(engine, me["sub"], "compte-2") == 1
        assert end_sessions(engine, sid=me["sid"]) == 1
    finally:
        engine.dispose()
    page = browser.page(base + "/moi")
    assert page.status == 401 and EXPIRED in text(page)


# --- token validation -----------------------------------------------------------------


def test_an_api_validates_bearer_tokens_without_flask(kit_world: Kit) -> None:
    browser = kit_world.sign_in()
    tokens = kit_world.tokens(browser)
    claims = validate_access_token(tokens["access_token"], kit_world.op.issuer,
                                   kit_world.client_id, required_scopes=["habilitations"])
    assert claims["sub"] == kit_world.people["directrice"]
    assert claims["entity"]["type"] == "ET" and claims["roles"]["TDBESMS"]
    api = requests.get(kit_world.base + "/api/moi", timeout=10,
                       headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert api.status_code == 200 and api.json()["sub"] == claims["sub"]
    # An ID token is not an access token, and a scope not granted is refused.
    for token, scopes in ((tokens["id_token"], ()), (tokens["access_token"], ["offline"])):
        with pytest.raises(InvalidToken):
            validate_access_token(token, kit_world.op.issuer, kit_world.client_id,
                                  required_scopes=scopes)
    api = requests.get(kit_world.base + "/api/moi", timeout=10,
                       headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert api.status_code == 401 and "typ" in api.json()["error_description"]


def test_tampered_tokens_are_refused(kit_world: Kit) -> None:
    tokens = kit_world.tokens(kit_world.sign_in())
    head, payload, signature = tokens["access_token"].split(".")
    claims = claims_of(tokens["access_token"])
    claims["roles"] = {"TDBESMS": ["GESTIONNAIRE_FICHIERS", "VALIDEUR"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="signature"):
        validate_access_token(f"{head}.{forged}.{signature}", kit_world.op.issuer,
                              kit_world.client_id)
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    with pytest.raises(InvalidToken):
        validate_access_token(f"{head}.{payload}.{flipped}", kit_world.op.issuer,
                              kit_world.client_id)


def test_a_token_for_another_audience_is_refused(kit_world: Kit) -> None:
    tokens = kit_world.tokens(kit_world.sign_in())
    with pytest.raises(InvalidToken, match="audience"):
        validate_access_token(tokens["access_token"], kit_world.op.issuer, "another-app")
    with pytest.raises(InvalidToken, match="audience"):
        validate_id_token(tokens["id_token"], kit_world.provider(), "another-app",
                          nonce=None)
    with pytest.raises(InvalidToken, match="issuer"):
        validate_access_token(kit_world.sign({**claims_of(tokens["access_token"]),
                                              "iss": "https://evil.test"}, typ="at+jwt"),
                              kit_world.op.issuer, kit_world.client_id)


def test_expired_tokens_are_refused_beyond_a_small_leeway(kit_world: Kit) -> None:
    tokens = kit_world.tokens(kit_world.sign_in())
    claims = claims_of(tokens["access_token"])
    now = int(time.time())

    def at(exp: int, iat: int) -> str:
        return kit_world.sign({**claims, "exp": exp, "iat": iat}, typ="at+jwt",
                              kid=header_of(tokens["access_token"])["kid"])

    validate_access_token(at(now - 30, now - 630), kit_world.op.issuer, kit_world.client_id)
    with pytest.raises(InvalidToken, match="expired"):
        validate_access_token(at(now - 120, now - 720), kit_world.op.issuer,
                              kit_world.client_id)
    with pytest.raises(InvalidToken, match="future"):
        validate_access_token(at(now + 900, now + 300), kit_world.op.issuer,
                              kit_world.client_id)
    with pytest.raises(InvalidToken, match="expired"):
        validate_access_token(at(now - 30, now - 630), kit_world.op.issuer,
                              kit_world.client_id, leeway=0)


def test_the_id_token_is_checked_against_nonce_and_at_hash(kit_world: Kit) -> None:
    tokens = kit_world.tokens(kit_world.sign_in())
    provider = kit_world.provider()
    nonce = claims_of(tokens["id_token"])["nonce"]
    validate_id_token(tokens["id_token"], provider, kit_world.client_id, nonce=nonce,
                      access_token=tokens["access_token"])
    with pytest.raises(InvalidToken, match="nonce"):
        validate_id_token(tokens["id_token"], provider, kit_world.client_id, nonce="other")
    other = kit_world.tokens(kit_world.sign_in())["access_token"]
    with pytest.raises(InvalidToken, match="at_hash"):
        validate_id_token(tokens["id_token"], provider, kit_world.client_id, nonce=nonce,
                          access_token=other)
    with pytest.raises(InvalidToken, match="typ"):  # an access token is no ID token
        validate_id_token(tokens["access_token"], provider, kit_world.client_id,
                          nonce=None)


def test_alg_none_and_hmac_with_the_public_key_are_refused(kit_world: Kit) -> None:
    tokens = kit_world.tokens(kit_world.sign_in())
    header = header_of(tokens["access_token"])
    claims = claims_of(tokens["access_token"])

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({**header, 'alg': 'none'})}.{b64(claims)}."
    with pytest.raises(InvalidToken, match="'none' not allowed"):
        validate_access_token(unsigned, kit_world.op.issuer, kit_world.client_id)
    public_pem = RSAKey.import_key(kit_world.provider().keyset().get_by_kid(
        header["kid"]).as_dict(private=False)).as_pem(private=False)
    signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken, match="'HS256' not allowed"):
        validate_access_token(confused, kit_world.op.issuer, kit_world.client_id)
    # ES256 is allowed, but not when the application restricts itself to RS256.
    with pytest.raises(InvalidToken, match="not allowed"):
        validate_access_token(tokens["access_token"], kit_world.op.issuer,
                              kit_world.client_id, algorithms=["ES256"])


def test_an_unknown_kid_refetches_the_keys_once_then_is_refused(kit_world: Kit) -> None:
    tokens = kit_world.tokens(kit_world.sign_in())
    provider = kit_world.provider()
    claims = claims_of(tokens["access_token"])
    stranger = ECKey.generate_key("P-256", parameters={"kid": "inconnu", "alg": "ES256"})
    forged = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "inconnu"}, claims, stranger)
    before = provider.fetches["jwks"]
    with pytest.raises(UnknownKey):
        validate_access_token(forged, kit_world.op.issuer, kit_world.client_id,
                              provider=provider)
    assert provider.fetches["jwks"] == before + 1
    # A flood of unknown kids does not make the application hammer the provider.
    for _ in range(5):
        with pytest.raises(UnknownKey):
            validate_access_token(forged, kit_world.op.issuer, kit_world.client_id,
                                  provider=provider)
    assert provider.fetches["jwks"] == before + 1


def test_a_key_rotation_needs_no_restart(kit_world: Kit) -> None:
    early = kit_world.sign_in()
    early_tokens = kit_world.tokens(early)
    old_kid = header_of(early_tokens["access_token"])["kid"]
    provider = kit_world.provider()
    assert provider.fetches["jwks"] == 1

    def rotate() -> str:
        row = keys.rotate("RS256", "test-passphrase", ACTOR, retire_after=timedelta(hours=1))
        db.session.commit()
        return row.kid

    new_kid = kit_world.op.run(rotate)
    late = kit_world.sign_in()  # tokens signed by a key the application has never seen
    late_tokens = kit_world.tokens(late)
    assert header_of(late_tokens["id_token"])["kid"] == new_kid != old_kid
    assert header_of(late_tokens["access_token"])["kid"] == new_kid
    assert provider.fetches["jwks"] == 2  # refetched on the unknown kid, once
    # The old key is still published during its grace period: earlier tokens stay valid.
    for tokens in (early_tokens, late_tokens):
        validate_access_token(tokens["access_token"], kit_world.op.issuer,
                              kit_world.client_id, provider=provider)
    assert early.http.get(kit_world.base + "/moi", timeout=10).status_code == 200
    assert provider.fetches["jwks"] == 2


def test_cache_lifetime_follows_cache_control() -> None:
    assert cache_lifetime("public, max-age=300") == 300
    assert cache_lifetime("max-age=\"60\", must-revalidate") == 60
    assert cache_lifetime("no-store") == 0
    assert cache_lifetime("no-cache, max-age=300") == 0
    assert cache_lifetime(None) == 300 and cache_lifetime("public") == 300
    assert cache_lifetime("max-age=99999999") == 24 * 3600


def test_discovery_of_another_issuer_is_refused(kit_world: Kit) -> None:
    from idp.rp import ProviderUnavailable

    assert Provider(kit_world.op.issuer).metadata["issuer"] == kit_world.op.issuer
    for wrong in (kit_world.op.issuer + "/", kit_world.base):  # not exactly, not at all
        with pytest.raises(ProviderUnavailable):
            _ = Provider(wrong).metadata


# --- the wall -------------------------------------------------------------------------


def test_the_kit_imports_nothing_from_the_provider() -> None:
    for path in RP_PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("idp.") or name.startswith("idp.rp"), \
                    f"{path.name} imports {name}"
                assert not name.startswith("authlib.jose"), f"{path.name}: use joserfc"
    loaded = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "import sys, idp.rp; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    internals = [m for m in loaded if m.startswith(("idp.oidc", "idp.directory", "idp.keys",
                                                    "idp.clients", "idp.login"))]
    assert internals == []
