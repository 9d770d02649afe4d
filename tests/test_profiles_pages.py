"""Profils › Recherche de profils, Gestion des profils & habilitations, and a profile's
page « Modifier les habilitations du profil » (ANCRE guide 2.1, training cases 2 and 3):
search, habilitations, exclusive roles, another administrator, the APE role handed over,
deactivation; and who may do what, tried by URL with and without the CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.core.audit import AuditEvent
from idp.directory import rules, services
from idp.directory.demo import load_demo
from idp.directory.enums import ProfileState
from idp.directory.models import Habilitation, Profile
from idp.extensions import db
from idp.outbox.models import OutboxItem
from tests.support import directory as d
from tests.support.sql import statements_of
from tests.test_requests_pages import ANY_FORM, log_in, post, text

EXCLUSIVE = ("Les rôles « Gestionnaire de fichiers » et « Lecteur » du domaine ANCRE sont "
             "exclusifs")


def build(app: Flask) -> SimpleNamespace:
    """The ANCRE world (Paul Durand APE of EHPAD Les Tilleuls, Élodie Martin with a
    profile there and one on EHPAD Le Verger, Jeanne Petit on Les Tilleuls) plus Yves
    Roux, APE of Le Verger, and a profile of Paul on Le Verger where he is no
    administrator."""
    with app.app_context():
        w = d.ancre_world()
        yves = d.account("Yves", "Roux")
        d.profile(yves, w.etab_y, "APE EHPAD Le Verger", "ADMINISTRATION/APE")
        paul_y = d.profile(w.ape, w.etab_y, "Paul au Verger", "SCANSANTE/LECTEUR")
        jeanne = w.outsider.profiles[0]
        paul_x = w.ape.profiles[0]
        roles = {f"{r.domain_code}/{r.code}": r.id for r in
                 (services.get_role(*q.split("/")) for q in (
                     "ANCRE/GESTIONNAIRE_FICHIERS", "ANCRE/LECTEUR", "ADMINISTRATION/APE",
                     "ADMINISTRATION/ADMINISTRATEUR", "SCANSANTE/LECTEUR"))}
        db.session.commit()
        return SimpleNamespace(
            app=app, ape=w.ape.identifier, yves=yves.identifier, person=w.person.identifier,
            jeanne=w.outsider.identifier, jeanne_profile=jeanne.id, paul_x=paul_x.id,
            paul_y=paul_y.id, profile_x=w.profile_x.id, profile_y=w.profile_y.id,
            etab_y=w.etab_y.id, roles=roles)


@pytest.fixture
def world(make_app: Any, database_url: str) -> Iterator[SimpleNamespace]:
    yield build(make_app(database_url))


@pytest.fixture
def sqlite_world(make_app: Any, sqlite_url: str) -> Iterator[SimpleNamespace]:
    yield build(make_app(sqlite_url))


def signed_in(w: SimpleNamespace, identifier: str) -> FlaskClient:
    client = w.app.test_client()
    log_in(client, identifier)
    return client


def held(w: SimpleNamespace, profile_id: int) -> set[str]:
    with w.app.app_context():
        profile = db.session.get(Profile, profile_id)
        return {f"{r.domain_code}/{r.code}" for r in rules.profile_roles(profile)}


def state(w: SimpleNamespace, profile_id: int) -> ProfileState:
    with w.app.app_context():
        return db.session.get(Profile, profile_id).state


def actions(w: SimpleNamespace, action: str) -> list[AuditEvent]:
    with w.app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return found


def save(client: FlaskClient, w: SimpleNamespace, profile_id: int, domain: str,
         add: list[str] = (), keep: list[str] = ()) -> Any:  # type: ignore[assignment]
    page = f"/profils/{profile_id}/habilitations?domaine={domain}"
    return post(client, page, {"domaine": domain, "ajouter": [w.roles[r] for r in add],
                               "attribues": [w.roles[r] for r in keep]},
                f"/profils/{profile_id}/habilitations")


# --- Recherche de profils -------------------------------------------------------------


def test_the_ape_finds_the_profiles_of_his_entity_and_only_them(world: SimpleNamespace
                                                                ) -> None:
    ape = signed_in(world, world.ape)
    page = text(ape.get("/profils/recherche"))
    assert "<h1>Recherche de profils</h1>" in page
    shown = {f'data-profile-id="{pid}"' for pid in
             (world.paul_x, world.profile_x, world.jeanne_profile)}
    assert all(row in page for row in shown)
    # Le Verger is not his: neither Élodie's profile there nor his own.
    assert f'data-profile-id="{world.profile_y}"' not in page
    assert f'data-profile-id="{world.paul_y}"' not in page
    assert "Modifier les habilitations du profil" in page

    def found(**criteria: Any) -> set[int]:
        html = text(ape.get("/profils/gestion", query_string=criteria))
        return {pid for pid in (world.paul_x, world.profile_x, world.jeanne_profile,
                                world.profile_y, world.paul_y)
                if f'data-profile-id="{pid}"' in html}

    assert found(nom="petit") == {world.jeanne_profile}
    assert found(nom=world.person) == {world.profile_x}  # an identifier
    assert found(libelle="directrice") == {world.profile_x}
    assert found(role=world.roles["ANCRE/GESTIONNAIRE_FICHIERS"]) == {world.profile_x}
    assert found(etat="inactif") == set()
    assert found(nom="%") == set()  # LIKE's wildcards are plain characters
    # Another entity asked for by hand: refused next to the field, nothing of it shown.
    html = text(ape.get("/profils/recherche", query_string={"entite": world.etab_y}))
    assert found(entite=world.etab_y) == {world.paul_x, world.profile_x, world.jeanne_profile}
    assert "choix valide" in html


def test_search_pages_through_many_profiles(sqlite_world: SimpleNamespace) -> None:
    w = sqlite_world
    with w.app.app_context():
        etab = db.session.get(Profile, w.paul_x).entity
        for n in range(60):
            d.profile(d.account("Agent", f"Numero{n:02d}"), etab, f"Agent {n}",
                      "SCANSANTE/LECTEUR")
        db.session.commit()
    ape = signed_in(w, w.ape)
    html = ape.get("/profils/recherche?nom=numero").get_data(as_text=True)
    assert "60 profils" in html and html.count("data-profile-id=") == 50
    assert 'rel="prev"' not in html
    after = re.search(r'href="/profils/recherche\?apres=(\d+)&amp;nom=numero" rel="next"', html)
    assert after, "« Suivant » keeps the filter"
    second = ape.get(f"/profils/recherche?apres={after[1]}&nom=numero").get_data(as_text=True)
    assert second.count("data-profile-id=") == 10 and 'rel="next"' not in second
    assert "Numero59" in second and "Numero49" not in second
    before = re.search(r'href="/profils/recherche\?avant=(\d+)&amp;nom=numero" rel="prev"',
                       second)
    assert before, "« Précédent » keeps the filter"
    back = ape.get(f"/profils/recherche?avant={before[1]}&nom=numero").get_data(as_text=True)
    assert back.count("data-profile-id=") == 50 and "Numero00" in back
    assert 'rel="prev"' not in back
    # No query per row: a page of 50 costs what a page of 10 does, but for the one
    # statement that reads the cursor's sort key.
    assert len(statements_of(w.app, lambda: ape.get("/profils/recherche?nom=numero"))) + 1 == \
        len(statements_of(w.app, lambda: ape.get(
            f"/profils/recherche?apres={after[1]}&nom=numero")))


# --- Modifier les habilitations du profil ---------------------------------------------


def test_the_ape_grants_gestionnaire_de_fichiers_in_ancre(world: SimpleNamespace) -> None:
    ape = signed_in(world, world.ape)
    page = text(ape.get(f"/profils/{world.jeanne_profile}/habilitations?domaine=ANCRE"))
    assert "Pour ajouter une habilitation, cochez-la parmi les <em>Rôles attribuables</em>" in page
    assert "Attention il ne faut attribuer qu'un <strong>seul rôle</strong>" in page
    assert "Aucun élément" in page  # nothing granted in ANCRE yet

    saved = save(ape, world, world.jeanne_profile, "ANCRE", add=["ANCRE/GESTIONNAIRE_FICHIERS"])
    assert saved.status_code == 302
    assert held(world, world.jeanne_profile) == {"SCANSANTE/LECTEUR",
                                                "ANCRE/GESTIONNAIRE_FICHIERS"}
    assert "sont enregistrées" in text(ape.get(saved.headers["Location"]))
    [granted] = actions(world, "habilitation.grant")[-1:]
    assert granted.details == {"domain": "ANCRE", "role": "GESTIONNAIRE_FICHIERS"}
    assert granted.actor == world.ape


def test_exclusive_roles_are_refused_with_the_guide_s_explanation(world: SimpleNamespace
                                                                  ) -> None:
    ape = signed_in(world, world.ape)
    both = save(ape, world, world.jeanne_profile, "ANCRE",
                add=["ANCRE/GESTIONNAIRE_FICHIERS", "ANCRE/LECTEUR"])
    assert both.status_code == 400
    page = text(both)
    assert EXCLUSIVE in page and 'role="alert" id="roles-error"' in page
    assert 'aria-describedby="roles-help roles-error"' in page
    assert held(world, world.jeanne_profile) == {"SCANSANTE/LECTEUR"}  # nothing half-written

    # Lecteur ticked while Gestionnaire de fichiers stays ticked: refused...
    kept = save(ape, world, world.profile_x, "ANCRE", add=["ANCRE/LECTEUR"],
                keep=["ANCRE/GESTIONNAIRE_FICHIERS"])
    assert kept.status_code == 400 and EXCLUSIVE in text(kept)
    # ...and swapped in one « Enregistrer » once Gestionnaire de fichiers is unticked.
    swapped = save(ape, world, world.profile_x, "ANCRE", add=["ANCRE/LECTEUR"])
    assert swapped.status_code == 302
    assert held(world, world.profile_x) == {"ANCRE/LECTEUR", "TDBESMS/GESTIONNAIRE_FICHIERS"}


def test_unticking_one_of_two_exclusive_roles_fixes_the_conflict(world: SimpleNamespace
                                                                 ) -> None:
    with world.app.app_context():
        # Data from before the rule: both exclusive roles on Élodie's profile.
        db.session.add(Habilitation(profile_id=world.profile_x,
                                    role_id=world.roles["ANCRE/LECTEUR"]))
        db.session.commit()
    ape = signed_in(world, world.ape)
    page = text(ape.get(f"/profils/{world.profile_x}/habilitations"))
    assert "Ce profil détient à la fois les rôles « Gestionnaire de fichiers » et « Lecteur » " \
           "du domaine ANCRE" in page
    assert "Ne garder que « Lecteur »" in page

    fixed = save(ape, world, world.profile_x, "ANCRE", keep=["ANCRE/LECTEUR"])
    assert fixed.status_code == 302
    assert held(world, world.profile_x) == {"ANCRE/LECTEUR", "TDBESMS/GESTIONNAIRE_FICHIERS"}
    assert "à la fois" not in text(ape.get(f"/profils/{world.profile_x}/habilitations"))


def test_the_ape_appoints_another_administrator_but_not_a_second_ape(
        world: SimpleNamespace) -> None:
    ape = signed_in(world, world.ape)
    page = text(ape.get(f"/profils/{world.jeanne_profile}/habilitations?domaine=ADMINISTRATION"))
    assert f'value="{world.roles["ADMINISTRATION/APE"]}"' not in page
    assert save(ape, world, world.jeanne_profile, "ADMINISTRATION",
                add=["ADMINISTRATION/APE"]).status_code == 400
    assert save(ape, world, world.jeanne_profile, "ADMINISTRATION",
                add=["ADMINISTRATION/ADMINISTRATEUR"]).status_code == 302
    jeanne = signed_in(world, world.jeanne)
    assert "Gestion des profils &amp; habilitations" in jeanne.get("/").get_data(as_text=True)
    assert jeanne.get("/profils/gestion").status_code == 200
    # His own APE role is not a box to untick.
    own = text(ape.get(f"/profils/{world.paul_x}/habilitations?domaine=ADMINISTRATION"))
    assert 'id="ape-held"' in own and "disabled" in own


def test_the_ape_hands_his_role_over_in_one_transaction(world: SimpleNamespace) -> None:
    jeanne = signed_in(world, world.jeanne)
    ape = signed_in(world, world.ape)
    save(ape, world, world.jeanne_profile, "ADMINISTRATION",
         add=["ADMINISTRATION/ADMINISTRATEUR"])
    # An Administrateur may not hand over a role he does not hold.
    refused = post(jeanne, ANY_FORM, {},
                   f"/profils/{world.jeanne_profile}/administrateur-principal")
    assert refused.status_code == 403

    page = text(ape.get(f"/profils/{world.jeanne_profile}/habilitations"))
    assert "Transmettre mon rôle d'administrateur principal à ce profil" in page
    done = post(ape, f"/profils/{world.jeanne_profile}/habilitations", {},
                f"/profils/{world.jeanne_profile}/administrateur-principal")
    assert done.status_code == 302
    assert "ADMINISTRATION/APE" in held(world, world.jeanne_profile)
    assert held(world, world.paul_x) == {"ADMINISTRATION/ADMINISTRATEUR"}
    with world.app.app_context():
        entity_id = db.session.get(Profile, world.paul_x).entity_id
        assert services.current_ape_profiles(entity_id) == [world.jeanne_profile]
    assert [e.actor for e in actions(world, "ape.appoint")] == [world.ape]
    with world.app.app_context():  # each step is told by mail, through the outbox
        entity = db.session.get(Profile, world.paul_x).entity
        assert db.session.scalars(select(OutboxItem.subject).where(
            OutboxItem.recipient == "jeanne.petit@example.test").order_by(OutboxItem.id)
        ).all() == [
            f"PLAGE – Vous êtes administrateur de {entity.name} ({entity.finess})",
            f"PLAGE – Vous êtes l'administrateur principal de {entity.name} "
            f"({entity.finess})"]


# --- the profile's state --------------------------------------------------------------


def test_deactivate_and_reactivate_a_profile(world: SimpleNamespace) -> None:
    ape = signed_in(world, world.ape)
    page = f"/profils/{world.profile_x}/habilitations"
    done = post(ape, page, {}, f"/profils/{world.profile_x}/desactiver")
    assert done.status_code == 302
    assert state(world, world.profile_x) == ProfileState.INACTIVE
    assert "est désactivé" in text(ape.get(done.headers["Location"]))
    assert "Réactiver le profil" in text(ape.get(page))
    assert post(ape, page, {}, f"/profils/{world.profile_x}/reactiver").status_code == 302
    assert state(world, world.profile_x) == ProfileState.ACTIVE
    assert [e.target_id for e in actions(world, "profile.deactivate")] == [str(world.profile_x)]
    assert len(actions(world, "profile.reactivate")) == 1

    # Neither his own profile nor the APE's (it must be handed over first).
    post(ape, page, {}, f"/profils/{world.paul_x}/desactiver")
    assert state(world, world.paul_x) == ProfileState.ACTIVE
    assert "votre propre profil" in text(ape.get(page))


# --- who may do what, by URL ----------------------------------------------------------


def pages(w: SimpleNamespace, profile_id: int) -> list[tuple[str, str]]:
    return [("GET", "/profils/recherche"), ("GET", "/profils/gestion"),
            ("GET", f"/profils/{profile_id}/habilitations?domaine=ANCRE"),
            ("POST", f"/profils/{profile_id}/habilitations"),
            ("POST", f"/profils/{profile_id}/desactiver"),
            ("POST", f"/profils/{profile_id}/reactiver"),
            ("POST", f"/profils/{profile_id}/administrateur-principal"),
            ("GET", f"/profils/{profile_id}/double-authentification"),
            ("POST", f"/profils/{profile_id}/double-authentification")]


def test_no_page_without_signing_in(sqlite_world: SimpleNamespace) -> None:
    w = sqlite_world
    visitor = w.app.test_client()
    for method, url in pages(w, w.profile_x):
        answer = visitor.open(url, method=method)
        if method == "GET":
            assert answer.status_code == 302 and "/connexion" in answer.headers["Location"]
        else:
            assert answer.status_code == 400  # no CSRF token, no session
    assert state(w, w.profile_x) == ProfileState.ACTIVE


def test_a_person_who_administers_nothing_sees_no_profile(sqlite_world: SimpleNamespace
                                                          ) -> None:
    w = sqlite_world
    person = signed_in(w, w.person)
    assert "Recherche de profils" not in person.get("/").get_data(as_text=True)
    for method, url in pages(w, w.profile_x):
        answer = post(person, ANY_FORM, {"domaine": "ANCRE"}, url) if method == "POST" \
            else person.get(url)
        assert answer.status_code == 403, url


def test_an_administrator_of_x_reaches_nothing_of_y(world: SimpleNamespace) -> None:
    """Yves, APE of Le Verger, against Élodie's profile on Les Tilleuls; Paul, APE of
    Les Tilleuls, against his own profile on Le Verger (no administrator role there
    for himself), with a valid CSRF token and without."""
    yves = signed_in(world, world.yves)
    ape = signed_in(world, world.ape)
    for client, target in ((yves, world.profile_x), (ape, world.paul_y)):
        for method, url in pages(world, target)[2:]:
            if method == "GET":
                assert client.get(url).status_code == 403, url
                continue
            data = {"domaine": "ADMINISTRATION",
                    "ajouter": [world.roles["ADMINISTRATION/ADMINISTRATEUR"]]}
            assert post(client, ANY_FORM, data, url).status_code == 403, url
            assert client.post(url, data=data).status_code == 400, url  # no token
    assert held(world, world.paul_y) == {"SCANSANTE/LECTEUR"}
    assert held(world, world.profile_x) == {"ANCRE/GESTIONNAIRE_FICHIERS",
                                            "TDBESMS/GESTIONNAIRE_FICHIERS"}
    assert state(world, world.profile_x) == ProfileState.ACTIVE
    assert f'data-profile-id="{world.profile_x}"' not in text(yves.get("/profils/gestion"))


def test_without_the_csrf_token_nothing_changes(sqlite_world: SimpleNamespace) -> None:
    w = sqlite_world
    ape = signed_in(w, w.ape)
    for _, url in pages(w, w.jeanne_profile)[3:]:
        answer = ape.post(url, data={"domaine": "ANCRE",
                                     "ajouter": [w.roles["ANCRE/LECTEUR"]]})
        assert answer.status_code == 400 and "Ce formulaire a expiré" in text(answer)
    assert held(w, w.jeanne_profile) == {"SCANSANTE/LECTEUR"}
    assert state(w, w.jeanne_profile) == ProfileState.ACTIVE


@pytest.mark.parametrize("data", [
    {"domaine": "INCONNU"}, {"domaine": ""}, {"domaine": "ANCRE", "ajouter": ["x"]},
    {"domaine": "ANCRE", "ajouter": ["999999"]}, {"domaine": "ANCRE", "attribues": ["-1"]},
    {"domaine": "A" * 5000}])
def test_bad_input_is_a_french_message_never_a_500(sqlite_world: SimpleNamespace,
                                                   data: dict[str, Any]) -> None:
    w = sqlite_world
    ape = signed_in(w, w.ape)
    answer = post(ape, ANY_FORM, data, f"/profils/{w.jeanne_profile}/habilitations")
    assert answer.status_code == 400
    assert held(w, w.jeanne_profile) == {"SCANSANTE/LECTEUR"}
    for url in ("/profils/999999/habilitations",
                "/profils/recherche?apres=-4&avant=x&etat=x&role=y",
                f"/profils/recherche?apres={10**30}", "/profils/recherche?avant=999999",
                f"/profils/{w.jeanne_profile}/habilitations?domaine=%00"):
        assert ape.get(url).status_code in (200, 400, 404), url  # %00: screened out


# --- the demo -------------------------------------------------------------------------


def test_a_demo_ape_finds_profils_in_the_menu_and_grants_a_role(make_app: Any,
                                                               sqlite_url: str) -> None:
    """README: Anne Lambert, APE of the demo's EHPAD Les Tilleuls, gives Camille Martin's
    profile there a role in Tableau de bord ESMS."""
    app = make_app(sqlite_url)
    with app.app_context():
        load_demo(d.ACTOR, d.MIN_LENGTH)
        db.session.commit()
        camille = services.get_account("463471").profiles[0]
        target, tdb_gf = camille.id, services.get_role("TDBESMS", "GESTIONNAIRE_FICHIERS").id
    anne = app.test_client()
    assert post(anne, "/connexion", {"identifier": "528711",
                                     "password": "Anne-Demo-2024!"}).status_code == 302
    menu = anne.get("/").get_data(as_text=True)
    assert "<summary>Profils</summary>" in menu
    for entry in ("Recherche de profils", "Demandes de création de profil",
                  "Gestion des profils &amp; habilitations"):
        assert entry in menu
    assert f'data-profile-id="{target}"' in text(anne.get("/profils/gestion"))
    page = f"/profils/{target}/habilitations?domaine=TDBESMS"
    assert post(anne, page, {"domaine": "TDBESMS", "ajouter": [tdb_gf]},
                f"/profils/{target}/habilitations").status_code == 302
    with app.app_context():
        assert "TDBESMS/GESTIONNAIRE_FICHIERS" in {
            f"{r.domain_code}/{r.code}" for r in
            rules.profile_roles(db.session.get(Profile, target))}
