"""The guide's scenarios of Profils › Gestion des profils & habilitations in headless
Chromium, with screenshots: an APE grants « Gestionnaire de fichiers » in ANCRE (ANCRE
guide 2.1) and the person's next token carries it; an APE without a TDBESMS role is
led by the access-denied page to his own habilitations page and gives himself the role
(training case 2); an exclusive conflict fixed by unticking (case 3).

The provider, a relying application and the ANCRE world are test_pages_browser's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from idp.directory import services
from idp.directory.models import Account, Habilitation, Profile
from idp.extensions import db
from tests import test_pages_browser as pages
from tests.support import directory as d

pytestmark = pytest.mark.browser

world = pages.world  # the fixture: the provider, a relying application, the ANCRE world
Shot = Callable[..., Any]


def open_menu(page: Page, entry: str) -> None:
    page.locator("summary", has_text="Profils").click()
    page.get_by_role("link", name=entry).click()


def edit_line_of(page: Page, name: str) -> None:
    """« Modifier les habilitations du profil », at the end of the person's line."""
    row = page.locator("tr", has_text=name)
    row.get_by_role("link", name="Modifier les habilitations du profil").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Modifier les habilitations du profil")


def choose_domain(page: Page, label: str) -> None:
    page.get_by_label("Domaine").select_option(label=label)
    page.get_by_role("button", name="Afficher les rôles").click()
    expect(page.get_by_role("heading", name=f"Domaine {label}")).to_be_visible()


def roles_in(page: Page, legend: str) -> Any:
    return page.get_by_role("group", name=legend)


def test_an_ape_grants_gestionnaire_de_fichiers_in_ancre_and_the_token_carries_it(
        world: pages.World, page: Page, browser: Any, screenshot: Shot) -> None:
    jeanne = world.run(lambda: db.session.scalar(
        db.select(Account.identifier).where(Account.family_name == "Petit")))
    page.goto(world.base + "/connexion")
    pages.sign_in(page, world.ape)
    open_menu(page, "Gestion des profils & habilitations")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Gestion des profils & habilitations")
    pages.accessible(page)
    screenshot(page, "1-gestion-des-profils")

    edit_line_of(page, "Petit")
    choose_domain(page, "ANCRE")
    expect(page.get_by_text("Pour ajouter une habilitation, cochez-la parmi les Rôles "
                            "attribuables.")).to_be_visible()
    expect(roles_in(page, "Rôles attribués")).to_contain_text("Aucun élément")
    roles_in(page, "Rôles attribuables").get_by_label("Gestionnaire de fichiers").check()
    pages.accessible(page)
    screenshot(page, "2-roles-ticked")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").filter(has_text="sont enregistrées")).to_be_visible()
    expect(roles_in(page, "Rôles attribués").get_by_label("Gestionnaire de fichiers")
           ).to_be_checked()
    screenshot(page, "3-saved")

    # The person signs in to the ANCRE application: the token carries the role.
    client = world.client("ANCRE", ["ANCRE"])
    auth = pages.authorization(world, client)
    person = browser.new_context(locale="fr-FR").new_page()
    person.goto(auth.url)
    pages.sign_in(person, jeanne)
    params = pages.landed(person, auth)
    claims = pages.id_token_claims(world, auth, params["code"])
    assert claims["sub"] == jeanne and claims["roles"] == {"ANCRE": ["GESTIONNAIRE_FICHIERS"]}
    person.context.close()


def test_an_ape_without_a_tdbesms_role_gives_it_to_himself_from_the_denied_page(
        world: pages.World, page: Page, screenshot: Shot) -> None:
    client = world.client("Tableau de bord ESMS", ["TDBESMS"])
    auth = pages.authorization(world, client)
    page.goto(auth.url)
    pages.sign_in(page, world.ape)
    expect(page.get_by_role("alert")).to_have_text(pages.NO_VALID_RIGHT)
    main = page.locator("main")
    expect(main).to_contain_text("Vous êtes administrateur de EHPAD Les Tilleuls")
    expect(main).not_to_contain_text("Paul Durand")  # never sent to ask himself
    pages.accessible(page)
    screenshot(page, "1-no-valid-right")

    page.get_by_role("link", name="Modifier les habilitations de mon profil").click()
    expect(page.get_by_role("heading", name="Domaine Tableau de bord ESMS")).to_be_visible()
    expect(page.get_by_text("reprenez la connexion à l'application")).to_be_visible()
    roles_in(page, "Rôles attribuables").get_by_label("Gestionnaire de fichiers").check()
    screenshot(page, "2-own-habilitations")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").filter(has_text="sont enregistrées")).to_be_visible()
    screenshot(page, "3-saved")

    page.get_by_role("link", name="reprenez la connexion à l'application").click()
    params = pages.landed(page, auth)
    claims = pages.id_token_claims(world, auth, params["code"])
    assert claims["sub"] == world.ape
    assert claims["roles"] == {"TDBESMS": ["GESTIONNAIRE_FICHIERS"]}


def test_an_exclusive_conflict_is_fixed_by_unticking(
        world: pages.World, page: Page, browser: Any, screenshot: Shot) -> None:
    def build() -> str:
        someone = d.account("Luc", "Bernard")
        etab_x = db.session.get(Profile, world.profile_x).entity  # type: ignore[union-attr]
        profile = d.profile(someone, etab_x, "Comptable EHPAD Les Tilleuls", "ANCRE/LECTEUR")
        # services.grant refuses the second exclusive role: insert it as old data would be.
        db.session.add(Habilitation(profile_id=profile.id, role_id=services.get_role(
            "ANCRE", "GESTIONNAIRE_FICHIERS").id))
        db.session.commit()
        return someone.identifier

    luc = world.run(build)
    client = world.client("ANCRE", ["ANCRE"])
    denied = pages.authorization(world, client)
    person = browser.new_context(locale="fr-FR").new_page()
    person.goto(denied.url)
    pages.sign_in(person, luc)
    expect(person.get_by_role("heading", level=1)).to_have_text(
        "Connexion impossible : rôles incompatibles")

    # The APE, on a small screen: Recherche de profils, the line, untick Lecteur.
    page.set_viewport_size(pages.SMALL_SCREEN)
    page.goto(world.base + "/connexion")
    pages.sign_in(page, world.ape)
    open_menu(page, "Recherche de profils")
    page.get_by_label("Nom, prénom ou identifiant").fill("bernard")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    screenshot(page, "1-search")
    edit_line_of(page, "Bernard")
    expect(page.get_by_role("alert")).to_contain_text(
        "Si les deux rôles sont attribués, le compte ne pourra pas se connecter.")
    choose_domain(page, "ANCRE")
    granted = roles_in(page, "Rôles attribués")
    expect(granted.get_by_role("checkbox", checked=True)).to_have_count(2)
    pages.accessible(page)
    pages.no_horizontal_scroll(page)
    screenshot(page, "2-conflict")
    granted.get_by_label("Lecteur").uncheck()
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").filter(has_text="sont enregistrées")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    screenshot(page, "3-fixed")

    auth = pages.authorization(world, client)
    person.goto(auth.url)
    claims = pages.id_token_claims(world, auth, pages.landed(person, auth)["code"])
    assert claims["roles"] == {"ANCRE": ["GESTIONNAIRE_FICHIERS"]}
    person.context.close()
