"""The ANCRE guide's section 2.3 in headless Chromium: a newcomer asks for an account
with the APE wish on an establishment of an OG, the OG's administrator creates the
profile, the newcomer chooses his password from the mail and signs in to a relying
application with the new profile; a second profile refused with a comment; a name that
already has an account."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from playwright.sync_api import expect

from idp.extensions import db
from idp.outbox import service as outbox
from tests import test_pages_browser as pages
from tests.support import directory as d
from tests.support.services import SmtpSink, body_of
from tests.test_requests_pages import NEW_PASSWORD, build_world, pending

pytestmark = pytest.mark.browser


def sign_in(page: Any, base: str, identifier: str, password: str) -> None:
    page.goto(base + "/connexion")
    page.fill("#identifier", identifier)
    page.fill("#password", password)
    page.click("button[type=submit]")


@pytest.fixture
def served(make_app: Any, sqlite_url: str, smtp_sink: SmtpSink,
           live_server: Any) -> tuple[SimpleNamespace, str]:
    """The requests' world, its mail to the SMTP sink, served for Chromium with its
    issuer (and its mails' links) at its own address, and a relying application next to
    it: (world, base)."""
    app = make_app(sqlite_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                     "smtp_port": smtp_sink.port})
    world = build_world(app)
    world.base = live_server(app)
    world.rp = live_server(pages.relying_app())
    app.config["IDP"]["server"]["issuer"] = world.base
    return world, world.base


def tableau_de_bord(world: SimpleNamespace) -> pages.Registered:
    """Tableau de bord ESMS, registered as a client of the provider (domain TDBESMS)."""
    with world.app.app_context():
        row, secret = d.client("Tableau de bord ESMS", ["TDBESMS"], [f"{world.rp}/callback"])
        db.session.commit()
        assert secret is not None
        return pages.Registered(row.client_id, secret, f"{world.rp}/callback")


def new_page(browser: Any) -> Any:
    """A browser of its own (cookies, session) for one person."""
    return browser.new_context(locale="fr-FR").new_page()


def test_a_newcomer_becomes_ape_of_an_og_establishment(
        served: tuple[SimpleNamespace, str], smtp_sink: SmtpSink, browser: Any,
        screenshot: Any) -> None:
    world, base = served
    newcomer = new_page(browser)

    newcomer.goto(base + "/")
    newcomer.click("text=Créer un compte")
    newcomer.fill("#given_name", "Léa")
    newcomer.fill("#family_name", "Nouvelle")
    # The entity field's script must be running before anything is typed in it: wait
    # for the form page to have loaded, not only for the click.
    with newcomer.expect_navigation():
        newcomer.click("text=Valider")
    newcomer.fill("#entity_search", "Tilleuls")
    newcomer.click("#entity-list li:has-text('EHPAD Les Tilleuls')")
    newcomer.check("input[name=wants_ape][value=oui]")
    newcomer.wait_for_selector(f"#recipients:has-text('{world.og.name}')")
    newcomer.fill("#label", "Direction EHPAD Les Tilleuls")
    newcomer.check("input[name=applications][value=TDBESMS]")
    newcomer.fill("#email", "lea@example.test")
    newcomer.fill("#email_confirm", "lea@example.test")
    newcomer.fill("#phone", "03 86 12 34 56")
    screenshot(newcomer, "1-request-form")
    newcomer.click("button:has-text('Envoyer')")
    newcomer.wait_for_selector("text=Votre demande a été envoyée")
    screenshot(newcomer, "2-request-sent")
    outbox.wait_idle()
    to_og = next(m for m in smtp_sink.received() if m["To"] == "odile.gestion@example.test")
    decide_url = re.search(re.escape(base) + r"(\S+)", body_of(to_og)).group(1)

    admin = new_page(browser)
    sign_in(admin, base, world.og_admin, d.PASSWORD)
    admin.goto(base + "/profils/demandes?vue=niveau")
    screenshot(admin, "3-og-queue")
    admin.click("text=Modifier")
    assert admin.url.endswith(decide_url)
    admin.fill("#comment", "Bienvenue dans PLAGE")
    screenshot(admin, "4-decision")
    admin.click("text=Créer le profil")
    admin.wait_for_selector("text=Le profil a été créé")
    admin.context.close()
    outbox.wait_idle()

    accepted = body_of([m for m in smtp_sink.received() if m["To"] == "lea@example.test"][-1])
    identifier = re.search(r"Votre identifiant Plage : (\d+)", accepted).group(1)
    # The page's script takes the code from after "#" and brings the password form.
    newcomer.goto(re.search(re.escape(base) + r"/compte/activation#\S+", accepted).group(0))
    newcomer.fill("#password", NEW_PASSWORD)
    newcomer.fill("#confirm", NEW_PASSWORD)
    newcomer.click("text=Enregistrer le mot de passe")
    newcomer.wait_for_selector("text=Votre mot de passe est enregistré")

    # Tableau de bord ESMS: the new APE holds no TDBESMS role yet; the access-denied
    # page leads her, administrator of the establishment, to her own habilitations
    # (training case 2), then back to the application with the new profile.
    auth = pages.authorization(world, tableau_de_bord(world))
    newcomer.goto(auth.url)
    pages.sign_in(newcomer, identifier, NEW_PASSWORD)
    expect(newcomer.get_by_role("alert")).to_have_text(pages.NO_VALID_RIGHT)
    expect(newcomer.locator("main")).to_contain_text(
        "Vous êtes administrateur de EHPAD Les Tilleuls")
    screenshot(newcomer, "5-new-ape-no-role-yet")
    newcomer.get_by_role("link", name="Modifier les habilitations de mon profil").click()
    newcomer.get_by_role("group", name="Rôles attribuables").get_by_label(
        "Gestionnaire de fichiers").check()
    newcomer.get_by_role("button", name="Enregistrer").click()
    expect(newcomer.get_by_role("status").filter(has_text="sont enregistrées")).to_be_visible()
    newcomer.get_by_role("link", name="reprenez la connexion à l'application").click()
    params = pages.landed(newcomer, auth)
    screenshot(newcomer, "6-relying-application")
    claims = pages.id_token_claims(world, auth, params["code"])
    assert claims["sub"] == identifier
    assert claims["profile"]["label"] == "Direction EHPAD Les Tilleuls"
    assert claims["entity"]["name"] == world.etab_x.name
    assert claims["entity"]["type"] == "ET"
    assert claims["roles"] == {"TDBESMS": ["GESTIONNAIRE_FICHIERS"]}
    newcomer.context.close()


def test_a_second_profile_refused_with_a_comment_and_a_name_already_known(
        served: tuple[SimpleNamespace, str], smtp_sink: SmtpSink, browser: Any,
        screenshot: Any) -> None:
    world, base = served

    # Élodie Martin, already holder of an account, asks for a profile at the OG.
    person = new_page(browser)
    sign_in(person, base, world.person, d.PASSWORD)
    person.goto(base + "/compte/")
    with person.expect_navigation():
        person.click("text=+ Demander un profil")
    person.fill("#entity_search", "Association")
    person.click(f"#entity-list li:has-text('{world.og.name}')")
    person.check("input[name=wants_ape][value=non]")
    person.fill("#label", "Siège")
    person.check("input[name=applications][value=ANCRE]")
    screenshot(person, "second-profile-1-form")
    person.click("button:has-text('Envoyer')")
    person.wait_for_selector("text=Valider l'envoi de la demande aux administrateurs")
    screenshot(person, "second-profile-2-confirm")
    person.click("button:has-text('Confirmer')")
    person.wait_for_selector("td:has-text('Siège')")
    outbox.wait_idle()

    # The OG's administrator refuses it, with a comment.
    admin = new_page(browser)
    sign_in(admin, base, world.og_admin, d.PASSWORD)
    admin.goto(base + "/profils/demandes")
    admin.click("tr:has-text('Martin') >> text=Modifier")
    admin.fill("#comment", "Pas de poste au siège")
    screenshot(admin, "second-profile-3-refusal")
    admin.click("text=Refuser la demande")
    admin.wait_for_selector("text=refusée")
    outbox.wait_idle()
    refused = next(m for m in smtp_sink.received() if m["To"] == world.person_email
                   and "refusée" in m["Subject"])
    assert "Pas de poste au siège" in body_of(refused)

    # She reads the decision and its comment in « Mes demandes ».
    person.goto(base + "/compte/demandes")
    row = person.locator("tr:has-text('Siège')")
    assert "Refusée" in row.inner_text() and "Pas de poste au siège" in row.inner_text()
    screenshot(person, "second-profile-4-my-requests")
    person.context.close()
    admin.context.close()

    # Someone types her name in « Créer un compte »: the page says the same as for anyone,
    # and her identifier goes to her own address only.
    visitor = new_page(browser)
    visitor.goto(base + "/")
    visitor.click("text=Créer un compte")
    visitor.fill("#given_name", "elodie")
    visitor.fill("#family_name", "MARTIN ")
    visitor.click("text=Valider")
    notice = visitor.wait_for_selector("#duplicate-check")
    assert "demandez un nouveau profil" in notice.inner_text()
    assert world.person not in visitor.content()
    screenshot(visitor, "duplicate-name")
    outbox.wait_idle()
    exists = next(m for m in smtp_sink.received() if "déjà un compte" in m["Subject"])
    assert exists["To"] == world.person_email
    assert f"identifiant {world.person}" in body_of(exists)
    visitor.context.close()


def test_a_newcomer_chooses_the_entity_without_scripts(
        served: tuple[SimpleNamespace, str], browser: Any, screenshot: Any) -> None:
    """Scripts off: « Rechercher l'entité » brings the matching entities as a list to
    choose from, what was typed elsewhere is kept, and the request is sent."""
    world, base = served
    newcomer = browser.new_context(locale="fr-FR", java_script_enabled=False).new_page()
    newcomer.goto(base + "/compte/creer")
    newcomer.fill("#given_name", "Léa")
    newcomer.fill("#family_name", "Nouvelle")
    newcomer.click("text=Valider")
    newcomer.fill("#label", "Direction EHPAD Les Tilleuls")
    newcomer.fill("#email", "lea@example.test")
    newcomer.fill("#entity_search", "tilleuls")
    newcomer.press("#entity_search", "Enter")  # the search, as the button would
    choices = newcomer.get_by_role("group", name="Choisissez l'entité")
    expect(choices.get_by_label(re.compile(world.etab_x.name))).to_have_count(1)
    expect(choices).not_to_contain_text("EHPAD Le Verger")
    expect(newcomer.locator(".error-text")).to_have_count(0)
    expect(newcomer.locator("#label")).to_have_value("Direction EHPAD Les Tilleuls")
    expect(newcomer.locator("#email")).to_have_value("lea@example.test")
    pages.accessible(newcomer)
    screenshot(newcomer, "no-script-1-entities")

    # A second search by the button, then the choice among several.
    newcomer.fill("#entity_search", "ehpad")
    newcomer.click("text=Rechercher l'entité")
    expect(choices).to_contain_text("EHPAD Le Verger")
    choices.get_by_label(re.compile(world.etab_x.name)).check()
    newcomer.check("input[name=wants_ape][value=non]")
    newcomer.check("input[name=applications][value=TDBESMS]")
    newcomer.fill("#email_confirm", "lea@example.test")
    newcomer.fill("#phone", "03 86 12 34 56")
    newcomer.click("button:has-text('Envoyer')")
    expect(newcomer.get_by_text("Votre demande a été envoyée")).to_be_visible()
    screenshot(newcomer, "no-script-2-sent")
    filed = pending(world.app)
    assert filed is not None and filed.entity_id == world.etab_x.id
    assert filed.label == "Direction EHPAD Les Tilleuls"
    newcomer.context.close()
