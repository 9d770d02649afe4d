"""The second factor's upkeep in headless Chromium on a phone-sized screen: Élodie
Martin, enrolled, asks new recovery codes; then Paul Durand, APE of her establishment,
resets her second factor from her profile's page. Screenshots go to
test-artifacts/screenshots/.

The provider and the ANCRE world are test_pages_browser's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from idp.core.audit import Actor
from idp.directory.models import Account
from idp.extensions import db
from idp.mfa import service as second_factor
from tests import test_pages_browser as pages

pytestmark = pytest.mark.browser

world = pages.world  # the fixture: the provider, a relying application, the ANCRE world
Shot = Callable[..., Any]


def enrolled(w: pages.World, identifier: str) -> pyotp.TOTP:
    """Enrol the person (a first code confirms it); her app, for the next step's code."""

    def work() -> str:
        account = db.session.scalars(select(Account).where(
            Account.identifier == identifier)).one()
        passphrase = w.app.config["IDP"]["keys"]["passphrase"]
        secret = second_factor.pending_secret(account, passphrase)
        assert second_factor.confirm(account, pyotp.TOTP(secret).now(), passphrase,
                                     Actor(label="test"))
        db.session.commit()
        return secret

    return pyotp.TOTP(w.run(work))


def on_small_screen(page: Page, w: pages.World, identifier: str) -> None:
    page.set_viewport_size(pages.SMALL_SCREEN)
    page.goto(w.base + "/connexion")
    pages.sign_in(page, identifier)


def test_new_recovery_codes_then_an_administrator_s_reset(
        world: pages.World, page: Page, browser: Any, screenshot: Shot) -> None:
    app = enrolled(world, world.person)
    on_small_screen(page, world, world.person)
    page.get_by_role("textbox", name="Code de vérification").fill(app.at(time.time() + 30))
    page.get_by_role("button", name="Valider").click()
    page.goto(world.base + "/compte/double-authentification")
    pages.accessible(page)
    pages.no_horizontal_scroll(page)
    screenshot(page, "1-manage")
    page.locator("#renew-proof").fill(pages.d.PASSWORD)
    page.get_by_role("button", name="Générer de nouveaux codes de secours").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    expect(page.get_by_role("status")).to_contain_text("les anciens ne fonctionnent plus")
    pages.no_horizontal_scroll(page)
    screenshot(page, "2-new-codes")

    admin = browser.new_context(locale="fr-FR").new_page()
    on_small_screen(admin, world, world.ape)
    admin.goto(f"{world.base}/profils/{world.profile_x}/habilitations")
    admin.get_by_role("link", name="Réinitialiser la double authentification").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        "Réinitialiser la double authentification")
    pages.accessible(admin)
    pages.no_horizontal_scroll(admin)
    screenshot(admin, "3-confirm-reset")
    admin.get_by_role("button", name="Confirmer la réinitialisation").click()
    expect(admin.get_by_role("status")).to_contain_text("est réinitialisée")
    screenshot(admin, "4-reset")
    admin.context.close()
