"""Passkeys in headless Chromium with its virtual authenticator (DevTools' WebAuthn
domain, through Playwright's CDP session): a person registers a passkey from Mon compte,
signs out, reaches an application that requires eidas2 with her password and the
passkey, then with the passkey alone. The provider is served on `http://localhost`:
WebAuthn wants a secure context and a domain (127.0.0.1 is neither for it).
Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.rp import Eidas2World, eidas2_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(make_app: Callable[..., Flask], sqlite_url: str, tmp_path: Path
          ) -> Iterator[Eidas2World]:
    with eidas2_world(make_app, sqlite_url, tmp_path, host="localhost") as found:
        yield found


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator that keeps its credentials and verifies its user."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return cdp, added["authenticatorId"]


def test_register_then_password_and_passkey_then_passkey_alone(
        world: Eidas2World, page: Any, screenshot: Any) -> None:
    op = world.op
    cdp, authenticator = virtual_authenticator(page)
    world.sign_in(page, op.issuer + "/connexion")
    page.get_by_role("link", name="Double authentification").click()

    page.wait_for_url("**/compte/double-authentification")
    page.get_by_label("Nom de la clé d'accès").fill("Ordinateur du bureau")
    page.get_by_role("button", name="Ajouter une clé d'accès").click()
    page.get_by_text("La clé d'accès « Ordinateur du bureau » est ajoutée.").wait_for()
    assert page.locator("#passkeys").get_by_text("Ordinateur du bureau").is_visible()
    screenshot(page, "1-registered")
    [credential] = cdp.send("WebAuthn.getCredentials",
                            {"authenticatorId": authenticator})["credentials"]
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"

    page.get_by_role("link", name="Se déconnecter").click()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()

    world.sign_in(page, world.app_base + "/moi")  # the application sends her to PLAGE
    page.wait_for_url("**/connexion/code")
    screenshot(page, "2-second-factor")
    page.get_by_role("button", name="Utiliser une clé d'accès").click()
    page.wait_for_url(world.app_base + "/moi")
    claims = world.id_token_claims(page)
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "hwk"]

    page.context.clear_cookies()  # a new visit: neither the application nor PLAGE knows her
    page.goto(world.app_base + "/moi")
    page.get_by_role("link", name="Se connecter avec une clé d'accès").click()
    page.wait_for_url("**/connexion/cle-d-acces*")
    # The authenticator cannot verify her this time: the prompt fails, the page says so.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator,
                                          "isUserVerified": False})
    page.get_by_role("button", name="Utiliser ma clé d'accès").click()
    page.get_by_text("L'opération a été annulée ou le délai est dépassé").wait_for()
    screenshot(page, "3-cancelled")
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator,
                                          "isUserVerified": True})
    page.get_by_role("button", name="Utiliser ma clé d'accès").click()
    page.wait_for_url(world.app_base + "/moi")
    assert world.identifier in page.content()
    screenshot(page, "4-application")
    claims = world.id_token_claims(page)
    assert claims["acr"] == "eidas2" and claims["amr"] == ["hwk", "user"]
    assert claims["sub"] == world.identifier


def test_a_browser_without_webauthn_is_told_in_french(world: Eidas2World, page: Any) -> None:
    page.add_init_script("delete window.PublicKeyCredential;")
    page.goto(world.op.issuer + "/connexion/cle-d-acces")
    page.get_by_role("button", name="Utiliser ma clé d'accès").click()
    message = page.get_by_role("alert")
    message.wait_for()
    assert "Votre navigateur ne permet pas d'utiliser une clé d'accès" in message.inner_text()
