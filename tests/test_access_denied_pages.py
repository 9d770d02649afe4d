"""Access-denied pages that lead somewhere (issue 9, item 3): an administrator is sent to
his own habilitations page, and back to the login once the role is given; a right that
lives on a dedicated entity (SAGA Directeurs on ET CNG SAGA) is asked for there with
« + Demander un profil »; the administrators are named, never the person himself; the
header's profile menu and an application's choice page never disagree."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.directory import services
from idp.directory.enums import EntityType
from idp.directory.models import Habilitation
from idp.extensions import db
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.oidc import Browser, Page, Provider, RelyingParty, Serve, register


@pytest.fixture
def op(serve: Serve, sqlite_url: str) -> Provider:
    return serve(sqlite_url)


def application(op: Provider, name: str, domain: str) -> RelyingParty:
    """`name`, a client of the `domain` application, asking for the openid scope only."""
    return register(op, (domain,), name=name, scope="openid",
                    redirect_uri=f"https://{domain.lower()}.example.fr/oidc/callback")


def main_text(page: Page) -> str:
    """The visible text of the page's main part (the header names the person)."""
    main = page.html[page.html.index("<main"):page.html.index("</main>")]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", main)).split())


def link(page: Page, text: str) -> str:
    """The address of the link whose text starts with `text`."""
    html = unescape(page.html)
    start = html.index(text)
    href = html.rindex('href="', 0, start) + len('href="')
    return html[href:html.index('"', href)]


def test_an_administrator_is_sent_to_his_own_habilitations_and_the_others_named(
        op: Provider) -> None:
    def build() -> dict[str, Any]:
        w = d.ancre_world()
        # Jeanne Petit becomes an Administrateur of Les Tilleuls beside Paul, its APE.
        services.grant(w.outsider.profiles[0],
                       services.get_role("ADMINISTRATION", "ADMINISTRATEUR"), d.ACTOR)
        db.session.commit()
        return {"ape": w.ape.identifier, "ape_profile": w.ape.profiles[0].id}

    w = op.run(build)
    tdb = application(op, "Tableau de bord ESMS", "TDBESMS")
    paul = Browser(op)
    paul.sign_in(w["ape"])
    page = tdb.refusal(paul)
    text = main_text(page)
    assert "Vous êtes administrateur de EHPAD Les Tilleuls" in text
    assert "Jeanne Petit" in text and "Paul Durand" not in text
    own = urlsplit(link(page, "Modifier les habilitations de mon profil"))
    assert own.path == f"/profils/{w['ape_profile']}/habilitations"
    query = parse_qs(own.query)
    assert query["domaine"] == ["TDBESMS"]
    assert query["retour"][0].startswith("/authorize/resume/")
    habilitations = paul.get(f"{own.path}?{own.query}")
    assert habilitations.status == 200
    assert "reprenez la connexion à l'application" in main_text(habilitations)


def test_a_right_that_lives_on_a_dedicated_entity_is_asked_for_there(
        op: Provider) -> None:
    def build() -> str:
        w = d.ancre_world()
        cng = d.entity("CNG00SAGA", EntityType.EJ, "ET CNG SAGA")
        d.profile(d.account("Sophie", "Bernard"), cng, "ET CNG SAGA", "SAGA/DIRECTEUR")
        db.session.commit()
        return w.person.identifier

    person = op.run(build)
    saga = application(op, "SAGA Directeurs", "SAGA")
    elodie = Browser(op)
    elodie.sign_in(person)
    page = saga.refusal(elodie)
    text = main_text(page)
    assert "Les droits de SAGA Directeurs sont attribués sur l'entité ET CNG SAGA" in text
    assert "Sophie Bernard" not in text  # a holder of the right is no administrator
    offer = link(page, "+ Demander un profil")
    assert urlsplit(offer).path == "/compte/demandes/nouvelle"
    assert parse_qs(urlsplit(offer).query) == {"entite": ["CNG00SAGA"],
                                               "applications": ["SAGA"]}
    form = unescape(elodie.get(offer).html)
    assert 'name="entity" type="hidden" value="CNG00SAGA"' in form
    assert 'value="SAGA" checked' in form or 'checked id="applications-' in form

    # ANCRE lives on every establishment: her own administrators are the way.
    ancre = application(op, "ANCRE", "ANCRE")

    def strip_ancre() -> None:
        for h in db.session.scalars(db.select(Habilitation)):
            if h.role.domain_code == "ANCRE" and h.profile.account.identifier == person:
                db.session.delete(h)
        db.session.commit()

    op.run(strip_ancre)
    assert "+ Demander un profil" not in main_text(ancre.refusal(elodie))


def test_a_conflict_the_person_can_fix_himself_links_to_the_profile(
        op: Provider) -> None:
    def build() -> dict[str, Any]:
        w = d.ancre_world()
        profile = w.ape.profiles[0]
        for code in ("LECTEUR", "GESTIONNAIRE_FICHIERS"):  # as data from before the rule
            db.session.add(Habilitation(profile=profile,
                                        role=services.get_role("ANCRE", code)))
        db.session.commit()
        return {"ape": w.ape.identifier, "profile": profile.id}

    w = op.run(build)
    ancre = application(op, "ANCRE", "ANCRE")
    paul = Browser(op)
    paul.sign_in(w["ape"])
    page = ancre.refusal(paul)
    assert "corrigez-le vous-même" in main_text(page)
    fix = urlsplit(link(page, "Modifier les habilitations du profil"))
    assert fix.path == f"/profils/{w['profile']}/habilitations"
    assert parse_qs(fix.query)["domaine"] == ["ANCRE"]
    assert "Paul Durand" not in main_text(page)


def test_the_header_s_profile_menu_follows_the_application_s_choice(
        op: Provider) -> None:
    """The choice page shows no profile menu of its own, and the profile chosen there is
    the one the header shows afterwards (training case 5: one active profile)."""

    def build() -> dict[str, Any]:
        w = d.ancre_world()
        return {"person": w.person.identifier, "x": w.profile_x.id, "y": w.profile_y.id}

    w = op.run(build)
    ancre = application(op, "ANCRE", "ANCRE")
    elodie = Browser(op)
    elodie.sign_in(w["person"])
    assert f'<option value="{w["x"]}" selected>' in elodie.get("/").html
    choice = elodie.get(ancre.start(elodie).headers["Location"])
    assert "Choisissez le profil" in choice.html and 'id="profile-menu"' not in choice.html
    chosen = elodie.post(choice.url, {"csrf_token": csrf_token(choice.html),
                                      "profile": str(w["y"])})
    assert chosen.status == 302
    assert f'<option value="{w["y"]}" selected>' in elodie.get("/").html
