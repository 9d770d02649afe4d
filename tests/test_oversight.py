"""Historique and Revue des habilitations (issue 9, items 4 and 6): an administrator reads
the audit log of his entities and of their people (a national administrator all of
it), filters it, pages it and exports it as a French spreadsheet opens it; he reviews
the profiles left unused and those holding an administrator role and deactivates one
in a click; `idp reviews report` gives the national report. Who may see and do what is
tried by URL and by filter, with and without the CSRF token."""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.cli import cli
from idp.core.audit import Actor, AuditEvent, record
from idp.directory import services
from idp.directory.enums import EntityType, ProfileState
from idp.directory.models import Entity, Profile
from idp.extensions import db
from idp.oidc.models import Grant
from idp.oversight.service import months_before
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.oidc import Browser, Serve, register
from tests.support.receivers import Receivers
from tests.test_profiles_pages import build, signed_in, state
from tests.test_requests_pages import ANY_FORM, post, text

NOW = datetime.now(UTC)


def people(app: Flask) -> SimpleNamespace:
    """The profiles pages' world (Paul Durand APE of EHPAD Les Tilleuls, Yves Roux APE of
    EHPAD Le Verger, Élodie Martin with a profile on each, Jeanne Petit on Les Tilleuls)
    plus an Administrateur of Les Tilleuls and a national administrator; a sign-in of
    Jeanne and one of Élodie recorded, and a habilitation granted on each EHPAD."""
    w = build(app)
    with app.app_context():
        tilleuls = db.session.get(Profile, w.paul_x).entity
        verger = db.session.get(Entity, w.etab_y)
        adrien = d.account("Adrien", "Second")
        adrien_profile = d.profile(adrien, tilleuls, "Adjoint administratif",
                                   "ADMINISTRATION/ADMINISTRATEUR")
        nat = d.entity("ATIH", EntityType.NAT, "ATIH")
        valerie = d.account("Valérie", "Chevalier")
        d.profile(valerie, nat, "Administration nationale", "ADMINISTRATION/ADMINISTRATEUR")
        paul = services.get_account(w.ape)
        yves = services.get_account(w.yves)
        for who, profile_id, role in ((paul, w.profile_x, "SCANSANTE/LECTEUR"),
                                      (yves, w.profile_y, "SCANSANTE/LECTEUR")):
            services.grant(db.session.get(Profile, profile_id),
                           services.get_role(*role.split("/")),
                           Actor(who.identifier, who.id, "192.0.2.7"))
        for identifier in (w.jeanne, w.person):
            holder = services.get_account(identifier)
            record(Actor(identifier, holder.id, "198.51.100.4"), "login.success",
                   target=holder)
        db.session.commit()
        return SimpleNamespace(**vars(w), adrien=adrien.identifier,
                               adrien_profile=adrien_profile.id, national=valerie.identifier,
                               tilleuls=tilleuls.finess, verger=verger.finess)


@pytest.fixture
def world(make_app: Any, database_url: str) -> Iterator[SimpleNamespace]:
    yield people(make_app(database_url))


@pytest.fixture
def sqlite_world(make_app: Any, sqlite_url: str) -> Iterator[SimpleNamespace]:
    yield people(make_app(sqlite_url))


def events_shown(html: str) -> int:
    return html.count("data-event-id=")


def spreadsheet(body: bytes) -> list[list[str]]:
    """The export as Excel in French reads it: UTF-8 announced by its BOM, `;`, CRLF."""
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


# --- Historique -----------------------------------------------------------------------


def test_an_ape_reads_the_history_of_his_entity_and_its_people(world: SimpleNamespace
                                                                ) -> None:
    paul = signed_in(world, world.ape)
    page = text(paul.get("/historique"))
    assert "<h1>Historique</h1>" in page
    # The role Paul gave Élodie on Les Tilleuls, who did it, from where, in French.
    assert "Habilitation attribuée" in page and "Scan Santé – Lecteur" in page
    assert "Paul Durand (" in page and "192.0.2.7" in page
    assert "Élodie Martin – profil « Directrice EHPAD Les Tilleuls »" in page
    # The sign-ins of the people who hold a profile on his entity.
    assert "Jeanne Petit (" in page and "198.51.100.4" in page
    # Nothing of Le Verger: the role Yves gave there.
    assert "Directrice EHPAD Le Verger" not in page and "Yves Roux" not in page

    def shown(**filters: str) -> str:
        return text(paul.get("/historique", query_string=filters))

    assert "Jeanne Petit (" not in shown(action="habilitation.grant")
    petit = shown(concerne="petit")
    assert "Jeanne Petit (" in petit and "Jeanne Petit – profil « Secrétariat »" in petit
    assert "Élodie" not in petit
    assert events_shown(shown(auteur=world.ape)) >= 1
    assert "Jeanne" not in shown(auteur=world.ape)
    tomorrow = (NOW + timedelta(days=2)).date().isoformat()
    assert events_shown(shown(du=tomorrow)) == 0
    assert events_shown(shown(au=tomorrow)) == events_shown(shown())
    # Le Verger asked for by filter: refused next to the field, nothing of it shown.
    refused = shown(entite=world.verger)
    assert "Vous n'administrez pas cette entité." in refused
    assert 'aria-describedby="entite-error"' in refused
    assert "Directrice EHPAD Le Verger" not in refused
    assert "Aucune entité n'a ce FINESS" in shown(entite="999999999")
    assert "Jeanne Petit (" in shown(entite=world.tilleuls)
    # Bad input is a French message, never a 500.
    assert "Not a valid date" not in shown(du="31/02/2026")
    for hostile in ("du=zzz&action=nope&apres=abc", "apres=99999999999", "apres=-3",
                    "au=2026-13-45&entite=" + "9" * 300):
        assert paul.get("/historique?" + hostile).status_code == 200, hostile
        assert paul.get("/historique.csv?" + hostile).status_code == 200, hostile


def test_a_national_administrator_reads_all_of_it(world: SimpleNamespace) -> None:
    valerie = signed_in(world, world.national)
    page = text(valerie.get("/historique"))
    assert "Tout ce qui a été fait sur la plateforme" in page
    assert "Directrice EHPAD Le Verger" in page and "Directrice EHPAD Les Tilleuls" in page
    verger = text(valerie.get("/historique", query_string={"entite": world.verger}))
    assert "Ce qui a été fait sur EHPAD Le Verger, leurs profils" in " ".join(verger.split())
    assert "Directrice EHPAD Le Verger" in verger
    assert "Directrice EHPAD Les Tilleuls" not in verger
    # A person by her names, in either order, accents and case aside.
    for typed in ("élodie martin", "MARTIN Elodie"):
        hers = text(valerie.get("/historique", query_string={"concerne": typed}))
        assert "Directrice EHPAD Le Verger" in hers and "Jeanne" not in hers


def test_the_history_pages_through_many_events_by_keyset(sqlite_world: SimpleNamespace
                                                         ) -> None:
    w = sqlite_world
    with w.app.app_context():
        entity = db.session.get(Profile, w.paul_x).entity
        first = datetime(2026, 1, 1, 12, tzinfo=UTC)
        # Some share their second: the order (date, id) still pages them exactly once.
        db.session.add_all(AuditEvent(at=first + timedelta(seconds=n // 3), actor="system",
                                      action="profile.contact", target_type="profile",
                                      target_id=str(w.profile_x), entity_id=entity.id,
                                      details={}) for n in range(70))
        db.session.commit()
    paul = signed_in(w, w.ape)
    seen: list[str] = []
    url = "/historique?action=profile.contact"
    while url:
        html = paul.get(url).get_data(as_text=True)
        seen += [part.split('"')[0] for part in html.split('data-event-id="')[1:]]
        following = html.split('rel="next"')[0].rsplit('href="', 1)[-1].split('"')[0] \
            if 'rel="next"' in html else ""
        url = following.replace("&amp;", "&")
        if url:
            assert "action=profile.contact" in url  # the filters kept
    assert len(seen) == len(set(seen)) == 70
    assert "Les plus récents" in html


def test_the_csv_export_opens_as_a_french_spreadsheet_expects(world: SimpleNamespace
                                                              ) -> None:
    paul = signed_in(world, world.ape)
    answer = paul.get("/historique.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "historique.csv" in answer.headers["Content-Disposition"]
    rows = spreadsheet(answer.get_data())
    assert rows[0] == ["Date", "Action", "Par", "Concerné", "Entité", "FINESS", "Détails",
                       "Adresse IP"]
    concerned = [r[3] for r in rows[1:]]
    assert "Élodie Martin – profil « Directrice EHPAD Les Tilleuls »" in concerned
    assert not any("Le Verger" in cell for r in rows for cell in r)
    granted = [r for r in rows if r[1] == "Habilitation attribuée" and r[2].startswith("Paul")]
    assert granted and granted[0][6].endswith("Lecteur") and granted[0][7] == "192.0.2.7"
    datetime.strptime(granted[0][0], "%d/%m/%Y %H:%M:%S")  # a date Excel reads in French
    # The export is of the filtered view.
    only = spreadsheet(paul.get("/historique.csv?concerne=petit").get_data())
    assert {r[3] for r in only[1:]} == {f"Jeanne Petit ({world.jeanne})",
                                        "Jeanne Petit – profil « Secrétariat »"}


# --- Revue des habilitations ----------------------------------------------------------


def used(app: Flask, profile_id: int, months_ago: int | None, created_months_ago: int
         ) -> None:
    """The profile created so long ago, last signed in to an application then (never
    when None)."""
    with app.app_context():
        profile = db.session.get(Profile, profile_id)
        profile.created_at = months_before(NOW, created_months_ago)
        if months_ago is not None:
            client, _ = d.client("Appli", ["SCANSANTE"], ["https://appli.example/cb"])
            db.session.add(Grant(id=secrets.token_hex(16), client_id=client.client_id,
                                 account_id=profile.account_id, profile_id=profile.id,
                                 created_at=months_before(NOW, months_ago)))
        db.session.commit()


def test_the_review_lists_the_unused_profiles_and_the_administrators(
        world: SimpleNamespace) -> None:
    used(world.app, world.profile_x, 7, 12)  # Élodie's: last used 7 months ago
    used(world.app, world.jeanne_profile, 1, 12)  # Jeanne's: used last month
    used(world.app, world.adrien_profile, None, 9)  # never used
    paul = signed_in(world, world.ape)
    page = text(paul.get("/revue-des-habilitations"))
    assert "<h1>Revue des habilitations</h1>" in page
    assert "depuis 6 mois" in page
    listed = {pid for pid in (world.profile_x, world.jeanne_profile, world.adrien_profile,
                              world.paul_x, world.profile_y)
              if f'data-profile-id="{pid}"' in page}
    # Paul's own profile is too recent to judge; Le Verger's is not his.
    assert listed == {world.profile_x, world.adrien_profile}
    assert months_before(NOW, 7).strftime("%d/%m/%Y") in page and "Jamais" in page
    assert page.index(f'data-profile-id="{world.adrien_profile}"') < \
        page.index(f'data-profile-id="{world.profile_x}"')  # never used first

    admins = text(paul.get("/revue-des-habilitations?liste=administrateurs"))
    shown = {pid for pid in (world.profile_x, world.adrien_profile, world.paul_x)
             if f'data-profile-id="{pid}"' in admins}
    assert shown == {world.adrien_profile, world.paul_x}
    assert "Votre profil" in admins


def test_the_number_of_months_is_a_setting(make_app: Any, sqlite_url: str) -> None:
    w = people(make_app(sqlite_url, security={"review_inactive_months": 13}))
    used(w.app, w.profile_x, 12, 24)
    page = text(signed_in(w, w.ape).get("/revue-des-habilitations"))
    assert "depuis 13 mois" in page and f'data-profile-id="{w.profile_x}"' not in page


def test_desactiver_from_the_review(world: SimpleNamespace) -> None:
    used(world.app, world.adrien_profile, None, 9)
    paul = signed_in(world, world.ape)
    done = post(paul, "/revue-des-habilitations?liste=administrateurs",
                {"liste": "administrateurs"},
                f"/revue-des-habilitations/profils/{world.adrien_profile}/desactiver")
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/revue-des-habilitations?liste=administrateurs")
    assert state(world, world.adrien_profile) == ProfileState.INACTIVE
    assert "« Adjoint administratif » est désactivé" in text(paul.get(done.headers["Location"]))
    with world.app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "profile.deactivate")).all()
        assert event.target_id == str(world.adrien_profile) and event.actor == world.ape
    # The domain's rules hold: not his own profile, not the APE's.
    refused = post(paul, "/revue-des-habilitations", {},
                   f"/revue-des-habilitations/profils/{world.paul_x}/desactiver")
    assert refused.status_code == 302 and state(world, world.paul_x) == ProfileState.ACTIVE
    assert "votre propre profil" in text(paul.get(refused.headers["Location"]))


def test_deactivation_from_the_review_ends_the_profile_s_tokens(
        serve: Serve, sqlite_url: str, receiver: Receivers) -> None:
    """Élodie signed in to Tableau de bord ESMS with offline access seven months ago and
    never since: the review lists her profile, the APE deactivates it, and the
    application's refresh token, which still worked, ends; the application is told."""
    op = serve(sqlite_url, oidc={"refresh_family_max_age": 400 * 86400})
    rec, base = receiver()

    def build_world() -> tuple[str, str, int]:
        w = d.ancre_world()
        return w.person.identifier, w.ape.identifier, w.profile_x.id

    identifier, ape_identifier, profile_x = op.run(build_world)
    tdb = register(op, ("TDBESMS",), name="Tableau de bord ESMS", scope="openid profile",
                   redirect_uri="https://tdb.example.fr/oidc/callback",
                   backchannel_logout_uri=f"{base}/tdb")
    person = Browser(op)
    person.sign_in(identifier)
    signed_in_then = tdb.login(person, scope="openid profile offline_access")

    def seven_months_ago() -> None:
        db.session.get(Profile, profile_x).created_at = months_before(NOW, 12)
        for grant in db.session.scalars(select(Grant).where(Grant.profile_id == profile_x)):
            grant.created_at = months_before(NOW, 7)
        db.session.commit()

    op.run(seven_months_ago)
    tokens = tdb.refresh(signed_in_then.refresh_token)  # it still works

    ape = Browser(op)
    ape.sign_in(ape_identifier)
    page = ape.get("/revue-des-habilitations")
    assert f'data-profile-id="{profile_x}"' in page.html
    done = ape.post(f"/revue-des-habilitations/profils/{profile_x}/desactiver",
                    {"csrf_token": csrf_token(page.html), "liste": "inactifs"})
    assert done.status == 302

    refused = tdb.refresh_request(tokens.refresh_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert tdb.userinfo(tokens.access_token).status_code == 401
    [token] = rec.wait_for(1)
    assert tdb.verify_logout_token(token)["sub"] == identifier


# --- who may see and do what ----------------------------------------------------------


def urls(w: SimpleNamespace) -> list[tuple[str, str]]:
    return [("GET", "/historique"), ("GET", "/historique.csv"),
            ("GET", "/revue-des-habilitations"),
            ("GET", "/revue-des-habilitations?liste=administrateurs"),
            ("POST", f"/revue-des-habilitations/profils/{w.profile_x}/desactiver")]


def test_no_page_without_signing_in(sqlite_world: SimpleNamespace) -> None:
    visitor = sqlite_world.app.test_client()
    for method, url in urls(sqlite_world):
        answer = visitor.open(url, method=method)
        if method == "GET":
            assert answer.status_code == 302 and "/connexion" in answer.headers["Location"]
        else:
            assert answer.status_code == 400  # no CSRF token, no session: refused first
    assert state(sqlite_world, sqlite_world.profile_x) == ProfileState.ACTIVE


def test_a_person_who_administers_nothing_sees_nothing(world: SimpleNamespace) -> None:
    jeanne = signed_in(world, world.jeanne)
    for method, url in urls(world):
        answer = jeanne.get(url) if method == "GET" else post(jeanne, ANY_FORM, {}, url)
        assert answer.status_code == 403, url
        assert "data-event-id" not in text(answer) and "data-profile-id" not in text(answer)
    assert state(world, world.profile_x) == ProfileState.ACTIVE
    # And the menu offers her neither page.
    home = text(jeanne.get("/compte/"))
    assert "Revue des habilitations" not in home and 'href="/historique"' not in home


def test_an_administrator_of_x_reaches_nothing_of_y(world: SimpleNamespace) -> None:
    yves = signed_in(world, world.yves)
    # Les Tilleuls' profiles: not deactivated, nor listed, nor in his history.
    assert post(yves, ANY_FORM, {},
                f"/revue-des-habilitations/profils/{world.jeanne_profile}/desactiver"
                ).status_code == 403
    assert state(world, world.jeanne_profile) == ProfileState.ACTIVE
    used(world.app, world.jeanne_profile, None, 12)
    review = text(yves.get("/revue-des-habilitations"))
    assert f'data-profile-id="{world.jeanne_profile}"' not in review
    history = text(yves.get("/historique?concerne=petit"))
    assert events_shown(history) == 0
    csv_rows = spreadsheet(yves.get(f"/historique.csv?entite={world.tilleuls}").get_data())
    assert not any("Tilleuls" in cell or "Jeanne" in cell for r in csv_rows for cell in r)
    # The menu leads an administrator to both pages.
    menu = text(yves.get("/historique"))
    assert "Revue des habilitations" in menu and "Historique" in menu


def test_without_the_csrf_token_nothing_is_deactivated(sqlite_world: SimpleNamespace
                                                       ) -> None:
    paul = signed_in(sqlite_world, sqlite_world.ape)
    url = f"/revue-des-habilitations/profils/{sqlite_world.adrien_profile}/desactiver"
    assert paul.post(url).status_code == 400
    assert paul.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert state(sqlite_world, sqlite_world.adrien_profile) == ProfileState.ACTIVE
    assert paul.post("/revue-des-habilitations/profils/999999/desactiver",
                     data={"csrf_token": csrf_token(
                         paul.get("/revue-des-habilitations").get_data(as_text=True))}
                     ).status_code == 404


# --- idp reviews report ---------------------------------------------------------------


def test_the_national_report_on_the_command_line(world: SimpleNamespace) -> None:
    used(world.app, world.profile_x, 7, 12)
    used(world.app, world.profile_y, 2, 12)
    runner = world.app.test_cli_runner()
    result = runner.invoke(cli, ["reviews", "report", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["months"] == 6
    inactive = {r["profile_id"]: r for r in report["inactive"]}
    # Both EHPADs: the national report knows no entity boundary.
    assert world.profile_x in inactive and world.profile_y not in inactive
    assert inactive[world.profile_x]["last_application_sign_in"].startswith(
        months_before(NOW, 7).date().isoformat())
    admins = {r["identifier"] for r in report["administrators"]}
    assert {world.ape, world.yves, world.adrien, world.national} <= admins
    assert world.jeanne not in admins
    # One month: Élodie's profile on Le Verger, used two months ago, is listed too.
    shorter = json.loads(runner.invoke(cli, ["reviews", "report", "--months", "1",
                                             "--json"]).output)
    assert world.profile_y in {r["profile_id"] for r in shorter["inactive"]}
    plain = runner.invoke(cli, ["reviews", "report"])
    assert plain.exit_code == 0 and "Profiles holding an administrator role" in plain.output
    bad = runner.invoke(cli, ["reviews", "report", "--months", "0"])
    assert bad.exit_code != 0 and len(bad.output.strip().splitlines()) == 1


def test_months_before_counts_calendar_months() -> None:
    assert months_before(datetime(2026, 3, 31, 8, tzinfo=UTC), 1) == \
        datetime(2026, 2, 28, 8, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 2) == \
        datetime(2025, 11, 15, tzinfo=UTC)
    assert months_before(datetime(2024, 8, 29, tzinfo=UTC), 6) == \
        datetime(2024, 2, 29, tzinfo=UTC)
