"""Revue des habilitations and Historique in headless Chromium, on a phone's width, with
screenshots: the APE of EHPAD Les Tilleuls finds both in the Profils menu, deactivates a
profile unused for a year in one click, and finds the deactivation in the history.

The provider and the ANCRE world are test_pages_browser's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from idp.core.clock import utcnow
from idp.directory.models import Profile
from idp.extensions import db
from idp.oversight.service import months_before
from tests import test_pages_browser as pages
from tests.test_profiles_browser import open_menu

pytestmark = pytest.mark.browser

world = pages.world
Shot = Callable[..., Any]


def test_an_ape_deactivates_an_unused_profile_from_the_review(
        world: pages.World, page: Page, screenshot: Shot) -> None:
    def a_year_old() -> None:
        db.session.get(Profile, world.profile_x).created_at = months_before(utcnow(), 12)
        db.session.commit()

    world.run(a_year_old)
    page.set_viewport_size(pages.SMALL_SCREEN)
    page.goto(world.base + "/connexion")
    pages.sign_in(page, world.ape)
    open_menu(page, "Revue des habilitations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Revue des habilitations")
    row = page.locator("tr", has_text="Directrice EHPAD Les Tilleuls")
    expect(row).to_contain_text("Jamais")
    pages.accessible(page)
    pages.no_horizontal_scroll(page)
    screenshot(page, "1-revue")

    row.get_by_role("button", name="Désactiver").click()
    expect(page.get_by_role("status").filter(has_text="est désactivé")).to_be_visible()
    expect(page.locator("tr", has_text="Directrice EHPAD Les Tilleuls")).to_have_count(0)
    screenshot(page, "2-desactive")

    open_menu(page, "Historique")
    page.get_by_label("Action").select_option(label="Désactivation d'un profil")
    page.get_by_role("button", name="Filtrer").click()
    first = page.locator("tbody tr").first
    expect(first).to_contain_text("Désactivation d'un profil")
    expect(first).to_contain_text("Élodie Martin – profil « Directrice EHPAD Les Tilleuls »")
    expect(first).to_contain_text("Paul Durand")
    pages.accessible(page)
    pages.no_horizontal_scroll(page)
    screenshot(page, "3-historique")
