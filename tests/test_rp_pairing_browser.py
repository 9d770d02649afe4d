"""First-login pairing in the demo SAGA Directeurs, in headless Chromium (SAGA guide).

"Il s'agit de votre première connexion à l'application SAGA Directeurs avec votre compte
utilisateur PLAGE." → Valider → "Choisissez le compte sur lequel vous souhaitez vous
connecter" → the personal space; the next login skips the pairing. Screenshots go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
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
from tests.support.oidc import Provider, Serve
from tests.support.rp import app_server, serve_demo

pytestmark = pytest.mark.browser

FIRST_LOGIN = ("Il s'agit de votre première connexion à l'application SAGA Directeurs avec "
               "votre compte utilisateur PLAGE.")
ASSOCIATE = "Nous devons associer votre compte utilisateur PLAGE à SAGA Directeurs."
CHOOSE = "Choisissez le compte sur lequel vous souhaitez vous connecter :"


@dataclass
class Saga:
    op: Provider
    app: Flask
    base: str
    people: dict[str, str]


def _people() -> dict[str, str]:
    """Sophie Bernard as in the guide (profile « ET CNG SAGA »), invited by the CNG under
    her email (demo_apps/saga/data.toml); Marc Lenoir holds the role but no invitation."""
    d.ancre_world()
    cng = d.entity("CNG00SAGA", EntityType.EJ, "ET CNG SAGA")
    sophie = d.account("Sophie", "Bernard", "sophie.bernard@example.org")
    d.profile(sophie, cng, "ET CNG SAGA", "SAGA/DIRECTEUR")
    marc = d.account("Marc", "Lenoir", "marc.lenoir@example.org")
    d.profile(marc, cng, "ET CNG SAGA", "SAGA/DIRECTEUR")
    db.session.commit()
    return {"sophie": sophie.identifier, "marc": marc.identifier}


@pytest.fixture
def saga_world(serve: Serve, sqlite_url: str,
               tmp_path: Path) -> Iterator[Callable[..., Saga]]:
    with app_server() as serve_app:
        op = serve(sqlite_url)
        people = op.run(_people)

        def start(**overrides: Any) -> Saga:
            app, base = serve_demo(op, serve_app, saga.create_app, SAGA,
                                   str(tmp_path / "saga"), **overrides)
            return Saga(op, app, base, people)

        yield start
        assert outbox.wait_idle(20)


def sign_in(page: Any, world: Saga, who: str) -> None:
    """From SAGA's home: the PLAGE button, then the provider's login page."""
    page.goto(world.base + "/")
    page.get_by_role("link", name="PLAGE").click()
    page.get_by_label("Identifiant Plage").fill(world.people[who])
    page.get_by_label("Mot de passe").fill(d.PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def main_text(page: Any) -> str:
    return " ".join(page.locator("main").inner_text().split())


def test_first_login_pairs_then_the_chooser_then_the_personal_space(
        saga_world: Callable[..., Saga], page: Any, screenshot: Any) -> None:
    world = saga_world()
    sign_in(page, world, "sophie")
    page.wait_for_url("**/plage/association")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "1ère authentification depuis PLAGE")
    text = main_text(page)
    assert "Bonjour Sophie BERNARD," in text and FIRST_LOGIN in text and ASSOCIATE in text
    screenshot(page, "1-premiere-connexion")

    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/plage/choix-du-compte")
    assert page.get_by_role("heading", level=1).inner_text() == "Bienvenue Sophie BERNARD"
    assert CHOOSE in main_text(page)
    cards = page.locator(".account-card")
    assert cards.count() == 2  # both invitations under her email were paired
    assert "CNG00SAGA Directeur Accéder à l'espace" in " ".join(
        cards.nth(0).inner_text().split())
    screenshot(page, "2-choix-du-compte")

    cards.filter(has_text="Directeur par intérim").click()
    page.wait_for_url("**/espace")
    assert page.get_by_role("heading", level=1).inner_text() == "Bienvenue Sophie BERNARD"
    text = main_text(page)
    assert "Votre espace – CH DE LORMES (580000107), Directeur par intérim" in text
    assert "_ARRETE_20230901_0" in text and "_ARRETE_20190308_0" not in text
    screenshot(page, "3-votre-espace")

    # Switching account needs no new pairing nor login.
    page.get_by_role("link", name="Changer de compte").click()
    page.locator(".account-card").filter(has_text="CNG00SAGA").click()
    page.wait_for_url("**/espace")
    text = main_text(page)
    assert "_ARRETE_20190308_0" in text and "08/03/2019" in text

    # Log out (of SAGA and of PLAGE), then in again: no pairing page this time.
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/plage/deconnecte")
    assert "Vous êtes déconnecté de SAGA Directeurs." in main_text(page)
    sign_in(page, world, "sophie")
    page.wait_for_url("**/plage/choix-du-compte")
    assert CHOOSE in main_text(page)
    screenshot(page, "4-connexion-suivante")


def test_pairing_is_impossible_without_an_invitation(
        saga_world: Callable[..., Saga], page: Any, screenshot: Any) -> None:
    world = saga_world()
    sign_in(page, world, "marc")
    page.wait_for_url("**/plage/association")
    page.get_by_role("button", name="Valider").click()
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Appairage PLAGE – SAGA Directeurs impossible"
    alert = page.get_by_role("alert").inner_text()
    assert "n'a pas pu être associé" in alert
    contact = page.get_by_role("link", name="Administrateur CNG")
    assert contact.get_attribute("href").startswith("mailto:cng-saga@sante.gouv.fr?subject=")
    assert "pour envoyer un message à cng-saga@sante.gouv.fr" in main_text(page)
    screenshot(page, "appairage-impossible")
    # Still not paired: the personal space asks for the pairing again.
    page.goto(world.base + "/espace")
    page.wait_for_url("**/plage/association")


def test_accounts_may_be_created_at_pairing(saga_world: Callable[..., Saga],
                                            page: Any) -> None:
    world = saga_world(create_accounts=True)
    sign_in(page, world, "marc")
    page.wait_for_url("**/plage/association")
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/plage/choix-du-compte")
    page.locator(".account-card").filter(has_text="CNG00SAGA").click()
    page.wait_for_url("**/espace")
    assert page.get_by_role("heading", level=1).inner_text() == "Bienvenue Marc LENOIR"


def test_the_administrator_unpairs_and_the_person_pairs_again(
        saga_world: Callable[..., Saga], page: Any, browser: Any, screenshot: Any) -> None:
    world = saga_world(create_accounts=True)
    world.app.config["DEMO"]["admins"] = [world.people["sophie"]]
    sign_in(page, world, "marc")  # paired with an account created for him
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/plage/choix-du-compte")

    admin = browser.new_context(locale="fr-FR").new_page()
    try:
        sign_in(admin, world, "sophie")
        admin.get_by_role("button", name="Valider").click()
        admin.locator(".account-card").first.click()
        admin.get_by_role("link", name="Administration : appairages PLAGE").click()
        admin.wait_for_url("**/admin/appairages")
        rows = admin.locator("tbody tr")
        assert rows.count() == 3  # Sophie's two accounts, Marc's one
        marc_row = rows.filter(has_text=world.people["marc"])
        assert "Marc LENOIR" in marc_row.inner_text()
        screenshot(admin, "appairages")
        marc_row.get_by_role("button", name=re.compile("Dissocier")).click()
        admin.wait_for_url("**/admin/appairages")
        assert (f"L'appairage de l'identifiant PLAGE {world.people['marc']} a été "
                "supprimé") in main_text(admin)
        assert admin.locator("tbody tr").count() == 2
    finally:
        admin.context.close()

    # Marc's next sign-in (already signed in at PLAGE) asks for the pairing again.
    page.goto(world.base + "/plage/connexion?next=/espace")
    page.wait_for_url("**/plage/association")


def test_only_the_application_administrators_see_the_pairings(
        saga_world: Callable[..., Saga], page: Any) -> None:
    world = saga_world(admins=[])
    sign_in(page, world, "sophie")
    page.get_by_role("button", name="Valider").click()
    page.locator(".account-card").first.click()
    page.wait_for_url("**/espace")
    assert page.get_by_role("link", name="Administration : appairages PLAGE").count() == 0
    response = page.goto(world.base + "/admin/appairages")
    assert response.status == 403
    assert "Seuls les administrateurs de SAGA Directeurs" in main_text(page)


def test_unpairing_from_the_command_line(saga_world: Callable[..., Saga],
                                         page: Any) -> None:
    world = saga_world()
    sign_in(page, world, "sophie")
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/plage/choix-du-compte")
    runner = world.app.test_cli_runner()
    listed = runner.invoke(args=["plage", "pairings"])
    assert listed.exit_code == 0 and listed.output.count(world.people["sophie"]) == 2
    done = runner.invoke(args=["plage", "unpair", world.people["sophie"]])
    assert done.exit_code == 0 and "2 pairing(s) removed" in done.output
    again = runner.invoke(args=["plage", "unpair", world.people["sophie"]])
    assert again.exit_code != 0 and "no pairing" in again.output
    assert runner.invoke(args=["plage", "pairings"]).output.strip() == "No pairing."
