"""The second factor in headless Chromium: a person enrols from Mon compte, signs out,
signs in again with the code of her app and reaches an application that requires
eidas2 (an application built on the relying-party kit). Screenshots go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask

from tests.support.rp import Eidas2World, eidas2_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(make_app: Callable[..., Flask], sqlite_url: str, tmp_path: Path
          ) -> Iterator[Eidas2World]:
    with eidas2_world(make_app, sqlite_url, tmp_path) as found:
        yield found


def test_enrol_sign_out_then_reach_an_application_that_requires_eidas2(
        world: Eidas2World, page: Any, screenshot: Any) -> None:
    op = world.op
    world.sign_in(page, op.issuer + "/connexion")
    page.get_by_role("link", name="Double authentification").click()

    page.wait_for_url("**/compte/double-authentification")
    assert page.locator(".qr-code svg").is_visible()
    screenshot(page, "1-enrol")
    app = pyotp.TOTP(page.locator("#secret").inner_text().replace(" ", ""))
    page.get_by_label("Code à 6 chiffres affiché par l'application").fill(app.now())
    page.get_by_role("button", name="Activer").click()
    assert page.locator("#recovery-codes li").count() == 10
    screenshot(page, "2-recovery-codes")

    page.get_by_role("link", name="Se déconnecter").click()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()

    world.sign_in(page, world.app_base + "/moi")  # the application sends her to PLAGE
    page.wait_for_url("**/connexion/code")
    screenshot(page, "3-code")
    # The next step's code: the current one was spent on the enrolment.
    page.get_by_role("textbox", name="Code de vérification").fill(app.at(time.time() + 30))
    page.get_by_role("button", name="Valider").click()

    page.wait_for_url(world.app_base + "/moi")
    assert world.identifier in page.content()
    screenshot(page, "4-application")
    claims = world.id_token_claims(page)
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "otp"]
