"""Administration nationale et régionale on the web: the entities (search, create, edit,
deactivate, the FINESS import), the appointment of an APE by the level above, the
catalogue, and the required assurance level of an application.

Every page is tried by URL as an anonymous visitor, a plain person, an administrator of
another region and a national administrator, with and without the CSRF token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from io import BytesIO

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.clients.models import Client
from idp.core.audit import AuditEvent
from idp.directory import rules
from idp.directory.enums import EntityType
from idp.directory.models import Account, Entity, Profile, Role
from idp.extensions import db
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.web import sign_in

ET_NEVERS = d.finess("58000001")  # an establishment of the Nièvre (58, region 27), no OG
ET_NANTES = d.finess("44000001")  # an establishment of Loire-Atlantique (44, region 52)


@dataclass
class People:
    national: str  # identifiers
    ars27: str
    ars52: str
    cd58: str
    plain: str
    former_ape: str
    nevers: int  # entity ids
    nantes: int
    ars_entity: int
    candidate: int  # profile id on the Nevers establishment


def build(app: Flask) -> People:
    """The ANCRE world, a national operator, two ARS, a CD and two establishments
    without OG, each with its administrators."""
    with app.app_context():
        world = d.ancre_world()
        atih = d.entity("ATIH", EntityType.NAT, "Agence technique de l'information sur "
                        "l'hospitalisation")
        ars52 = d.entity("ARS52", EntityType.ARS, "ARS Pays de la Loire", region="52")
        cd58 = d.entity("CD58", EntityType.CD, "Conseil départemental de la Nièvre",
                        departement="58", region="27")
        nevers = d.entity(ET_NEVERS, EntityType.ET, "EHPAD de Nevers", finess_number=ET_NEVERS,
                          departement="58", region="27")
        nantes = d.entity(ET_NANTES, EntityType.ET, "EHPAD de Nantes", finess_number=ET_NANTES,
                          departement="44", region="52")
        admin = "ADMINISTRATION/ADMINISTRATEUR"
        national = d.account("Nadia", "Nationale")
        d.profile(national, atih, "Administratrice nationale", admin)
        a27 = d.account("Arnaud", "Régional")
        d.profile(a27, world.ars, "ARS BFC", admin)
        a52 = d.account("Bruno", "Ligérien")
        d.profile(a52, ars52, "ARS PDL", admin)
        c58 = d.account("Chloé", "Départemental")
        d.profile(c58, cd58, "CD 58", admin)
        former = d.account("Fanny", "Ancienne")
        d.profile(former, nevers, "APE Nevers", "ADMINISTRATION/APE")
        successor = d.account("Simon", "Successeur")
        candidate = d.profile(successor, nevers, "Directeur EHPAD de Nevers", "ANCRE/LECTEUR")
        nantes_person = d.account("Nina", "Nantaise")
        d.profile(nantes_person, nantes, "Directrice EHPAD de Nantes")
        db.session.commit()
        return People(national.identifier, a27.identifier, a52.identifier, c58.identifier,
                      world.outsider.identifier, former.identifier, nevers.id, nantes.id,
                      world.ars.id, candidate.id)


def signed_in(app: Flask, identifier: str | None) -> FlaskClient:
    browser = app.test_client()
    if identifier is not None:
        assert sign_in(browser, identifier).status_code == 302
    return browser


def page_token(browser: FlaskClient, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, response.status_code
    return csrf_token(response.get_data(as_text=True))


def field_error(html: str, field: str) -> str:
    """The message shown next to `field` (its aria-describedby error paragraph)."""
    tag = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{field}"[^>]*>', html)
    assert tag and re.search(rf'aria-describedby="[^"]*{field}-error', tag.group(0)), field
    found = re.search(rf'<p class="error-text" id="{field}-error">(.*?)</p>', html, re.S)
    assert found, f"no error next to {field}"
    return unescape(found.group(1))


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# --- who reaches what -----------------------------------------------------------------

NATIONAL_ONLY = ["/admin/entites/nouvelle", "/admin/entites/{nevers}", "/admin/entites/import",
                 "/admin/catalogue"]


def test_every_page_by_url_for_each_kind_of_visitor(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    people = build(app)

    def urls(pattern_list: list[str]) -> list[str]:
        return [u.format(nevers=people.nevers) for u in pattern_list]

    anonymous = signed_in(app, None)
    every = [*urls(NATIONAL_ONLY), "/admin/entites", "/admin/nominations",
             f"/admin/entites/{people.nevers}/ape"]
    for url in every:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/connexion" in response.location, url

    plain = signed_in(app, people.plain)
    for url in every:
        assert plain.get(url).status_code == 403, url

    other_region = signed_in(app, people.ars52)
    for url in [*urls(NATIONAL_ONLY), f"/admin/entites/{people.nevers}/ape"]:
        assert other_region.get(url).status_code == 403, url
    assert other_region.get("/admin/entites").status_code == 200
    assert other_region.get("/admin/nominations").status_code == 200

    national = signed_in(app, people.national)
    for url in [*every[:-1], f"/admin/entites/{people.ars_entity}/ape"]:
        assert national.get(url).status_code == 200, url
    # The national level appoints the APE of an ARS, not of an establishment of a region.
    assert national.get(every[-1]).status_code == 403
    menu = national.get("/compte/").get_data(as_text=True)
    for entry in ("Entités", "Nomination des APE", "Catalogue des domaines et des rôles",
                  "Applications clientes"):
        assert entry in menu
    assert "Nomination des APE" not in plain.get("/compte/").get_data(as_text=True)

    # An OG's administrator appoints the APEs of its establishments: the entry is his too,
    # not an establishment's administrator's (Paul Durand, APE of Les Tilleuls).
    with app.app_context():
        og = db.session.scalar(select(Entity).where(Entity.code == d.finess("25001181")))
        olga = d.account("Olga", "Gestionnaire")
        d.profile(olga, og, "APE de l'OG", "ADMINISTRATION/APE")
        paul = db.session.scalar(select(Account).where(Account.family_name == "Durand"))
        olga_id, paul_id = olga.identifier, paul.identifier  # type: ignore[union-attr]
        db.session.commit()
    og_menu = signed_in(app, olga_id).get("/compte/").get_data(as_text=True)
    assert "Nomination des APE" in og_menu and "Entités</a>" not in og_menu
    assert "Nomination des APE" not in signed_in(app, paul_id).get("/compte/").get_data(
        as_text=True)


def test_no_form_is_accepted_without_its_csrf_token(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    people = build(app)
    national = signed_in(app, people.national)
    posts = {
        "/admin/entites/nouvelle": {"code": "NOUVELLE", "type": "NAT", "name": "Nouvelle"},
        f"/admin/entites/{people.nevers}": {"type": "ET", "name": "Renommée"},
        f"/admin/entites/{people.nevers}/desactiver": {},
        "/admin/entites/import": {"fichier": (BytesIO(b"code;type;name\nX1;NAT;X\n"),
                                              "x.csv")},
        f"/admin/entites/{people.nevers}/ape": {"profil": str(people.candidate)},
        "/admin/catalogue/domaines": {"domain": "NOUVEAU", "domain_label": "Nouveau"},
        "/admin/catalogue/roles": {"role_domain": "ANCRE", "role": "X", "label": "X"},
    }
    for url, data in posts.items():
        assert national.post(url, data=data).status_code == 400, url
    with app.app_context():
        assert db.session.scalar(select(Entity).where(Entity.code == "NOUVELLE")) is None
        nevers = db.session.get(Entity, people.nevers)
        assert nevers.name == "EHPAD de Nevers" and nevers.active
        assert db.session.scalar(select(Role).where(Role.code == "X")) is None
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(["ape.appoint", "entity.create", "entity.update",
                                   "entity.deactivate", "entities.import"]))) == 0


# --- regional views -------------------------------------------------------------------


def test_regional_administrators_see_their_region_or_departement(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)

    def codes(identifier: str, query: str = "") -> set[str]:
        html = signed_in(app, identifier).get("/admin/entites" + query).get_data(as_text=True)
        return set(re.findall(r'data-entity="([^"]+)"', html))

    ars27 = codes(people.ars27)
    assert ET_NEVERS in ars27 and "CD58" in ars27 and ET_NANTES not in ars27
    assert codes(people.ars52) == {"ARS52", ET_NANTES}
    cd58 = codes(people.cd58)
    assert ET_NEVERS in cd58 and ET_NANTES not in cd58 and d.finess("25000001") not in cd58
    assert codes(people.ars27, "?texte=nevers") == {ET_NEVERS}
    assert codes(people.national, "?type=ARS") == {"ARS27", "ARS52"}
    # A filter outside the choices is shown with its message and left out, never a 500.
    response = signed_in(app, people.ars27).get("/admin/entites?type=XX&region=<b>")
    assert response.status_code == 200 and "choix valide" in unescape(
        response.get_data(as_text=True))

    # The APEs they appoint: ARS 27 the establishments of its region without OG.
    html = signed_in(app, people.ars27).get("/admin/nominations").get_data(as_text=True)
    appointed = set(re.findall(r'data-entity="([^"]+)"', html))
    assert appointed == {ET_NEVERS, d.finess("25001181")}  # the OG itself has no OG
    assert "Fanny Ancienne – APE Nevers" in html
    national = signed_in(app, people.national).get("/admin/nominations").get_data(as_text=True)
    assert set(re.findall(r'data-entity="([^"]+)"', national)) == {
        "ARS27", "ARS52", "CD58", "ATIH"}


# --- Nommer l'administrateur principal -------------------------------------------------


def test_an_ars_appoints_the_ape_of_an_establishment_of_its_region(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)
    ars = signed_in(app, people.ars27)
    url = f"/admin/entites/{people.nevers}/ape"
    form = ars.get(url).get_data(as_text=True)
    assert "Fanny Ancienne – APE Nevers" in form
    assert "Simon Successeur – Directeur EHPAD de Nevers" in form

    response = ars.post(url, data={"csrf_token": csrf_token(form),
                                   "profil": str(people.candidate)})

    assert response.status_code == 302
    assert outbox.wait_idle(20)
    with app.app_context():
        nevers = db.session.get(Entity, people.nevers)
        apes = {p.account.identifier: rules.holds_ape(p) for p in
                db.session.scalars(select(Profile).where(Profile.entity_id == nevers.id))}
        assert apes[people.former_ape] is False and list(apes.values()).count(True) == 1
        former = next(p for p in db.session.scalars(select(Profile)) if
                      p.account.identifier == people.former_ape)
        assert rules.is_admin_profile(former)  # still an Administrateur
        events = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.entity_id == nevers.id, AuditEvent.action.like("ape.%"))).all()
        assert sorted(events) == ["ape.appoint", "ape.demote"]
        subjects = dict(db.session.execute(select(OutboxItem.recipient, OutboxItem.subject)
                                           .where(OutboxItem.channel == "mail")).all())
        assert subjects["simon.successeur@example.test"].startswith(
            "PLAGE – Vous êtes l'administrateur principal de EHPAD de Nevers")
        assert subjects["fanny.ancienne@example.test"].startswith(
            "PLAGE – Un nouvel administrateur principal")


def test_a_regional_administrator_cannot_appoint_outside_his_region(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)
    other = signed_in(app, people.ars52)
    token = page_token(other, f"/admin/entites/{people.nantes}/ape")  # his own appointee
    url = f"/admin/entites/{people.nevers}/ape"

    response = other.post(url, data={"csrf_token": token, "profil": str(people.candidate)})

    assert response.status_code == 403
    assert "nommé par le niveau supérieur" in unescape(response.get_data(as_text=True))
    # Nor the regional level: an ARS is appointed by the national level only.
    own = signed_in(app, people.ars27)
    assert own.get(f"/admin/entites/{people.ars_entity}/ape").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("ape.%"))) == 0


def test_a_profile_of_another_entity_cannot_be_appointed(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    people = build(app)
    ars = signed_in(app, people.ars27)
    url = f"/admin/entites/{people.nevers}/ape"
    with app.app_context():
        foreign = db.session.scalar(select(Profile.id).where(
            Profile.entity_id == people.nantes))
    response = ars.post(url, data={"csrf_token": page_token(ars, url), "profil": str(foreign)})
    assert response.status_code == 400
    assert "choix valide" in field_error(response.get_data(as_text=True), "profil")


# --- Créer, modifier, désactiver une entité -------------------------------------------


def test_a_national_administrator_creates_and_edits_an_entity(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)
    national = signed_in(app, people.national)
    token = page_token(national, "/admin/entites/nouvelle")
    wrong_key = ET_NEVERS[:-1] + str((int(ET_NEVERS[-1]) + 1) % 10)
    new_et = d.finess("58000002")

    refused = national.post("/admin/entites/nouvelle", data={
        "csrf_token": token, "finess": wrong_key, "type": "ET", "name": "EHPAD Bis",
        "departement": "21"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "La clé du numéro FINESS" in field_error(html, "finess")
    assert "EHPAD Bis" in html  # nothing typed is lost
    unknown_ej = national.post("/admin/entites/nouvelle", data={
        "csrf_token": token, "finess": new_et, "type": "ET", "name": "EHPAD Bis",
        "finess_ej": "999999999"})
    assert "999999999 inconnu" in field_error(unknown_ej.get_data(as_text=True), "finess_ej")

    created = national.post("/admin/entites/nouvelle", data={
        "csrf_token": token, "finess": new_et, "type": "ET", "name": "EHPAD Bis",
        "city": "Nevers", "finess_ej": d.finess("25001181")})
    assert created.status_code == 302
    with app.app_context():
        entity = db.session.scalar(select(Entity).where(Entity.code == new_et))
        assert (entity.departement, entity.region, entity.parent.name) == (
            "58", "27", "Association Les Tilleuls")
        entity_id = entity.id
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.entity_id == entity_id)) == "entity.create"

    again = national.post("/admin/entites/nouvelle", data={
        "csrf_token": token, "finess": new_et, "type": "ET", "name": "Doublon"})
    assert "porte déjà ce code" in field_error(again.get_data(as_text=True), "finess")

    edit = f"/admin/entites/{entity_id}"
    assert national.post(edit, data={"csrf_token": token, "type": "ET", "name": "EHPAD Ter",
                                     "departement": "44"}).status_code == 400
    saved = national.post(edit, data={"csrf_token": token, "type": "ET", "name": "EHPAD Ter",
                                      "postal_code": "58000", "finess_ej": ""})
    assert saved.status_code == 302
    off = national.post(f"{edit}/desactiver", data={"csrf_token": token})
    assert off.status_code == 302
    with app.app_context():
        entity = db.session.get(Entity, entity_id)
        assert (entity.name, entity.postal_code, entity.parent_id, entity.active) == (
            "EHPAD Ter", "58000", None, False)


# --- Importer un extrait FINESS -------------------------------------------------------


def upload(browser: FlaskClient, text: str, token: str):  # type: ignore[no-untyped-def]
    return browser.post("/admin/entites/import", content_type="multipart/form-data", data={
        "csrf_token": token, "fichier": (BytesIO(text.encode()), "extrait.csv")})


def test_an_import_with_a_bad_line_writes_nothing(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)
    national = signed_in(app, people.national)
    token = page_token(national, "/admin/entites/import")
    with app.app_context():
        before = (count(Entity), count(AuditEvent))
    good = d.finess("21000001")
    text = ("finess;type;name;city\n"
            f"{good};ET;EHPAD de Dijon;Dijon\n"
            f"{ET_NEVERS};ET;EHPAD renommé;Nevers\n"
            f"{good[:-1]}0;ET;Clé fausse;Dijon\n")

    response = upload(national, text, token)

    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "rien n'a été importé : 1 erreur" in html and "ligne 4 : la clé" in html
    with app.app_context():
        assert (count(Entity), count(AuditEvent)) == before
        assert db.session.get(Entity, people.nevers).name == "EHPAD de Nevers"
        assert count(OutboxItem) == 0  # nothing queued either
    assert "Choisissez le fichier" in field_error(
        upload(national, "", token).get_data(as_text=True), "fichier")


def test_an_import_runs_in_the_background_and_shows_its_counts(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)
    national = signed_in(app, people.national)
    token = page_token(national, "/admin/entites/import")
    rows = "".join(f"{d.finess(f'210{n:05d}')};ET;ESMS {n};Dijon;{d.finess('21000900')}\n"
                   for n in range(30))
    text = ("finess;type;name;city;finess_ej\n"
            f"{d.finess('21000900')};EJ;Association dijonnaise;Dijon;\n"
            f"{ET_NEVERS};ET;EHPAD de Nevers (renommé);Nevers;\n" + rows)

    response = upload(national, text, token)

    assert response.status_code == 302
    progress = response.location
    assert outbox.wait_idle(30)
    page = " ".join(unescape(national.get(progress).get_data(as_text=True)).split())
    assert "L'import est terminé : 31 entités créées, 1 mise à jour, 0 inchangée." in page
    with app.app_context():
        assert db.session.get(Entity, people.nevers).name == "EHPAD de Nevers (renommé)"
        og = db.session.scalar(select(Entity).where(Entity.code == d.finess("21000900")))
        assert db.session.scalar(select(func.count()).select_from(Entity).where(
            Entity.managing_og_id == og.id)) == 30
        audit = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "entities.import"))
        assert audit.actor == people.national and audit.details["created"] == 31
    # Another national administrator's guess, or a stranger's, finds nothing.
    assert national.get("/admin/entites/import/" + "0" * 32).status_code == 404
    assert signed_in(app, people.ars27).get(progress).status_code == 403


# --- Catalogue ------------------------------------------------------------------------


def test_the_catalogue_takes_a_role_and_a_domain_with_its_checks(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    people = build(app)
    national = signed_in(app, people.national)
    token = page_token(national, "/admin/catalogue")

    bad = national.post("/admin/catalogue/roles", data={
        "csrf_token": token, "role_domain": "ANCRE", "role": "1 rôle!", "label": "Valideur"})
    assert bad.status_code == 400
    assert "Code « 1 rôle! » invalide" in field_error(bad.get_data(as_text=True), "role")
    unknown = national.post("/admin/catalogue/roles", data={
        "csrf_token": token, "role_domain": "INCONNU", "role": "X", "label": "X"})
    assert unknown.status_code == 400
    added = national.post("/admin/catalogue/roles", data={
        "csrf_token": token, "role_domain": "ANCRE", "role": "valideur", "label": "Valideur",
        "exclusive": "acces"})
    assert added.status_code == 302
    twice = national.post("/admin/catalogue/domaines", data={
        "csrf_token": token, "domain": "ancre", "domain_label": "ANCRE encore"})
    assert "existe déjà" in field_error(twice.get_data(as_text=True), "domain")
    domain = national.post("/admin/catalogue/domaines", data={
        "csrf_token": token, "domain": "simpa", "domain_label": "SIMPA"})
    assert domain.status_code == 302
    listing = national.get("/admin/catalogue").get_data(as_text=True)
    assert "VALIDEUR" in listing and 'data-domain="SIMPA"' in listing
    with app.app_context():
        role = db.session.scalar(select(Role).where(Role.domain_code == "ANCRE",
                                                    Role.code == "VALIDEUR"))
        assert role.exclusive_group == "acces"


# --- required_acr in the applications form --------------------------------------------


def test_an_application_requires_the_second_factor_from_its_form(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    people = build(app)
    national = signed_in(app, people.national)
    token = page_token(national, "/admin/applications/nouvelle")
    fields = {"csrf_token": token, "name": "TDB", "domains": ["TDBESMS"],
              "kind": "confidential", "redirect_uris": "https://tdb.example.fr/cb",
              "id_token_signed_response_alg": "RS256"}

    refused = national.post("/admin/applications/nouvelle",
                            data={**fields, "required_acr": "eidas3"})
    assert refused.status_code == 400
    assert "choix valide" in unescape(refused.get_data(as_text=True))
    created = national.post("/admin/applications/nouvelle",
                            data={**fields, "required_acr": "eidas2"})
    client_id = re.search(r'id="client-id">([^<]+)<', created.get_data(as_text=True)).group(1)
    edit = national.get(f"/admin/applications/{client_id}").get_data(as_text=True)
    assert re.search(r'<option selected value="eidas2">|<option value="eidas2" selected', edit)
    national.post(f"/admin/applications/{client_id}", data={**fields, "required_acr": ""})
    with app.app_context():
        assert db.session.scalar(select(Client.required_acr).where(
            Client.client_id == client_id)) is None


@pytest.mark.parametrize("level", ["eidas1", "eidas2"])
def test_each_level_of_the_ladder_is_offered(make_app, sqlite_url, level: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    people = build(app)
    national = signed_in(app, people.national)
    html = national.get("/admin/applications/nouvelle").get_data(as_text=True)
    assert f'value="{level}"' in html
