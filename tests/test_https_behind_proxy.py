"""Sign-in over https behind a TLS-terminating proxy (`proxy_hops = 1`), as deployed.

Headless Chromium signs in to SAGA Directeurs through the provider, whose issuer is the
proxy's https URL: every provider form (login, logout confirmation) must be accepted
over https, and the session cookie must be a `__Host-` secure cookie. A suite that only
ran over http once hid a login that no browser could complete over https.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from demo_apps import saga
from demo_apps.registration import SAGA
from idp.directory.enums import EntityType
from idp.extensions import db
from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.oidc import Provider
from tests.support.rp import app_server, serve_demo
from tests.support.tls import throwaway_certificate, tls_proxy

pytestmark = pytest.mark.browser


@dataclass
class HttpsWorld:
    op: Provider
    saga_base: str
    sophie: str


def _sophie() -> str:
    d.ancre_world()
    cng = d.entity("CNG00SAGA", EntityType.EJ, "ET CNG SAGA")
    sophie = d.account("Sophie", "Bernard", "sophie.bernard@example.org")
    d.profile(sophie, cng, "ET CNG SAGA", "SAGA/DIRECTEUR")
    db.session.commit()
    return sophie.identifier


@pytest.fixture
def https_world(make_app: Callable[..., Flask], sqlite_url: str, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsWorld]:
    certificate = throwaway_certificate(tmp_path)
    # The relying application's server-side calls (discovery, token) trust the proxy.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
    with tls_proxy(certificate) as proxy, app_server() as serve_app:

        def build(upstream: str) -> Flask:
            proxy.upstream = upstream
            return make_app(sqlite_url, server={"issuer": proxy.base, "proxy_hops": 1})

        app, _ = serve_app(build)
        op = Provider(app=app, issuer=proxy.base)
        sophie = op.run(_sophie)
        _, saga_base = serve_demo(op, serve_app, saga.create_app, SAGA,
                                  str(tmp_path / "saga"), create_accounts=True)
        yield HttpsWorld(op, saga_base, sophie)
        assert outbox.wait_idle(20)


def test_a_browser_signs_in_over_https_through_to_the_application(
        https_world: HttpsWorld, browser: Any, screenshot: Any) -> None:
    context = browser.new_context(locale="fr-FR", ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(https_world.saga_base + "/")
        page.get_by_role("link", name="PLAGE").click()
        page.wait_for_url(https_world.op.issuer + "/connexion**")
        page.get_by_label("Identifiant Plage").fill(https_world.sophie)
        page.get_by_label("Mot de passe").fill(d.PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/plage/association")  # back at SAGA, signed in
        assert "Ce formulaire a expiré" not in page.content()
        page.get_by_role("button", name="Valider").click()
        page.wait_for_url("**/plage/choix-du-compte")
        screenshot(page, "saga-apres-connexion-https")

        [cookie] = [c for c in context.cookies(https_world.op.issuer)
                    if c["name"].endswith("plage_session")]
        assert cookie["name"] == "__Host-plage_session"
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        # Another provider form over https: the logout confirmation.
        page.goto(https_world.op.issuer + "/logout")
        page.get_by_role("button", name="Se déconnecter").click()
        assert "Ce formulaire a expiré" not in page.content()
        assert "déconnecté" in page.locator("main").inner_text()
        screenshot(page, "deconnexion-https")
    finally:
        context.close()


# --- the CSRF origin check, behind the same proxy settings ----------------------------

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "plage.example.fr",
           "X-Forwarded-For": "192.0.2.10"}
EXPIRED = "Ce formulaire a expiré"


@pytest.fixture
def proxied_client(make_app: Callable[..., Flask], sqlite_url: str) -> Any:
    app = make_app(sqlite_url, server={"issuer": "https://plage.example.fr",
                                       "proxy_hops": 1})
    client = app.test_client()
    page = client.get("/connexion", headers=PROXIED)
    assert page.status_code == 200
    return client, csrf_token(page.get_data(as_text=True))


def _sign_in(client: Any, token: str, **headers: str) -> Any:
    return client.post("/connexion", headers={**PROXIED, **headers},
                       data={"csrf_token": token, "identifier": "0000000",
                             "password": "not-the-password"})


def test_a_form_sent_from_our_own_pages_is_accepted(proxied_client: Any) -> None:
    client, token = proxied_client
    answer = _sign_in(client, token, Origin="https://plage.example.fr",
                      Referer="https://plage.example.fr/connexion")
    assert answer.status_code == 401  # the password was checked: the form was accepted
    assert EXPIRED not in answer.get_data(as_text=True)


def test_a_browser_that_sends_no_referrer_can_still_submit(proxied_client: Any) -> None:
    """Privacy settings, extensions and the no-referrer pages (reset links) omit it."""
    client, token = proxied_client
    for headers in ({}, {"Origin": "null"}):
        answer = _sign_in(client, token, **headers)
        assert answer.status_code == 401, headers


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "http://plage.example.fr"},  # downgraded scheme
    {"Origin": "https://plage.example.fr:8443"},
    {"Origin": "null", "Referer": "https://evil.example/form"},
    {"Referer": "https://plage.example.fr.evil.example/connexion"},
])
def test_a_form_posted_from_another_site_is_refused_even_with_a_token(
        proxied_client: Any, headers: dict[str, str]) -> None:
    client, token = proxied_client
    answer = _sign_in(client, token, **headers)
    assert answer.status_code == 400
    assert EXPIRED in answer.get_data(as_text=True)


def test_the_session_cookie_is_host_only_and_secure_over_https(proxied_client: Any) -> None:
    client, _ = proxied_client
    cookie = client.get_cookie("__Host-plage_session")
    assert cookie is not None and cookie.secure and cookie.http_only
    assert cookie.path == "/" and cookie.origin_only  # no Domain attribute


def test_an_https_issuer_tells_browsers_to_keep_to_https(proxied_client: Any) -> None:
    client, _ = proxied_client
    for path in ("/connexion", "/.well-known/openid-configuration", "/jwks"):
        answer = client.get(path, headers=PROXIED)
        assert answer.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains"), path
