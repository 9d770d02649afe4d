"""Mon compte and its tabs, as the ANCRE guide and training case 6 show them: a person
keeps his own details up to date (name, phone, address, an email address proved by a
link), reads and edits his profiles, checks his identifier, merges his second account,
reads his history; and never acts on anybody else's account, by URL or by form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.core.audit import AuditEvent
from idp.directory import services
from idp.directory.enums import AccountState
from idp.directory.models import Account, Profile
from idp.extensions import db
from idp.oidc.models import Grant
from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.apps import AppFactory
from tests.support.clock import store_clock
from tests.support.html import csrf_token
from tests.support.services import SmtpSink, body_of
from tests.support.web import sign_in
from tests.test_selfservice_recovery import submit, text

CONFIRM = "/compte/courriel/confirmer"
LINK = re.compile(r"http://idp\.test/compte/courriel/confirmer#([A-Za-z0-9_-]+)")
NEW_ADDRESS = "elodie.martin@nouvel-og.test"


@dataclass
class World:
    app: Flask
    person: str  # Élodie Martin, two profiles (X: Gestionnaire de fichiers, Y: Lecteur)
    email: str
    profile_x: int
    profile_y: int
    outsider: str  # Jeanne Petit, one profile on X
    outsider_profile: int
    second: str  # another account of Élodie Martin's, spelt otherwise, on the OG
    second_profile: int
    namesake: str  # Élodie Martineau: not the same person


def build(app: Flask) -> World:
    with app.app_context():
        w = d.ancre_world()
        second = d.account("ELODIE", "martin", email="e.martin@og.test")
        second_profile = d.profile(second, w.og, "Direction OG", "TDBESMS/LECTEUR")
        namesake = d.account("Élodie", "Martineau")
        d.profile(namesake, w.og, "Comptabilité OG")
        db.session.commit()
        return World(app, w.person.identifier, w.person.email, w.profile_x.id,
                     w.profile_y.id, w.outsider.identifier, w.outsider.profiles[0].id,
                     second.identifier, second_profile.id, namesake.identifier)


def mailing(make_app: AppFactory, database_url: str, smtp_sink: SmtpSink,
            **security: Any) -> Flask:
    return make_app(database_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                        "smtp_port": smtp_sink.port}, security=security)


@pytest.fixture
def world(make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink) -> Iterator[World]:
    yield build(mailing(make_app, sqlite_url, smtp_sink))
    outbox.wait_idle()


def signed_in(w: World, identifier: str) -> FlaskClient:
    client = w.app.test_client()
    assert sign_in(client, identifier).status_code == 302
    return client


def account_of(w: World, identifier: str) -> Account:
    return db.session.scalar(select(Account).where(Account.identifier == identifier))


def audit(w: World, action: str) -> list[AuditEvent]:
    with w.app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))


# --- the tabs -------------------------------------------------------------------------


TABS = {"/compte/informations": "Mes informations personnelles",
        "/compte/": "Mes profils / habilitations",
        "/compte/identifiant": "Mon identifiant",
        "/compte/regroupement": "Regroupement de compte",
        "/compte/historique": "Mon historique"}


def test_mon_compte_has_the_guides_tabs_and_each_needs_a_signed_in_person(world: World) -> None:
    anonymous = world.app.test_client()
    client = signed_in(world, world.person)
    for path, label in TABS.items():
        assert anonymous.get(path).headers["Location"].startswith("/connexion?next=")
        page = text(client.get(path))
        assert '<nav class="tabs" aria-label="Mon compte">' in page
        for other_path, other_label in TABS.items():
            current = ' aria-current="page"' if other_path == path else ""
            assert f'<a href="{other_path}"{current}>{other_label}</a>' in page, (path, label)


def test_the_identifier_tab_says_the_identifier_is_active_and_for_which_profiles(
        world: World) -> None:
    page = text(signed_in(world, world.person).get("/compte/identifiant"))
    assert f'<strong id="identifier">{world.person}</strong>' in page
    assert "<dt>État du compte</dt><dd>Actif</dd>" in page
    assert "« Directrice EHPAD Les Tilleuls » sur EHPAD Les Tilleuls" in page
    assert "« Directrice EHPAD Le Verger » sur EHPAD Le Verger" in page


# --- Mes informations personnelles ----------------------------------------------------


def test_a_person_updates_his_name_phone_and_address(world: World) -> None:
    client = signed_in(world, world.person)
    page = text(client.get("/compte/informations"))
    assert 'value="Martin"' in page and 'value="Élodie"' in page
    assert 'href="/compte/mot-de-passe"' in page  # the password change, from this tab

    saved = submit(client, "/compte/informations", family_name="Martin-Durand",
                   given_name="Élodie", phone="03 81 12 34 56",
                   address="3 rue des Tilleuls\n25000 Besançon")

    assert saved.status_code == 302
    assert "Vos informations personnelles ont été enregistrées." in text(
        client.get(saved.headers["Location"]))
    with world.app.app_context():
        person = account_of(world, world.person)
        assert (person.family_name, person.phone) == ("Martin-Durand", "03 81 12 34 56")
        assert person.address == "3 rue des Tilleuls\n25000 Besançon"
        assert person.name_key == services.name_key("Élodie", "Martin-Durand")
    [event] = audit(world, "account.update")
    assert event.target_id == world.person and event.details["changes"]["family_name"] == [
        "Martin", "Martin-Durand"]


def test_bad_personal_information_is_answered_next_to_the_field_with_nothing_lost(
        world: World) -> None:
    client = signed_in(world, world.person)
    page = client.get("/compte/informations").get_data(as_text=True)

    refused = client.post("/compte/informations", data={
        "csrf_token": csrf_token(page), "family_name": "  ", "given_name": "Élodie",
        "phone": "appelez-moi", "address": "3 rue des Tilleuls"})

    html = text(refused)
    assert refused.status_code == 400
    assert '<p class="error-text" id="family_name-error">Veuillez renseigner votre nom.</p>' in html
    assert 'id="phone-error">Saisissez un numéro de téléphone' in html
    assert 'aria-invalid="true"' in html
    assert 'value="appelez-moi"' in html and "3 rue des Tilleuls</textarea>" in html
    with world.app.app_context():
        assert account_of(world, world.person).family_name == "Martin"
    forged = client.post("/compte/informations", data={
        "family_name": "Pirate", "given_name": "Élodie"})
    assert forged.status_code == 400
    with world.app.app_context():
        assert account_of(world, world.person).family_name == "Martin"


# --- the email change (training case 6) ------------------------------------------------


def ask_for(client: FlaskClient, address: str, confirm: str | None = None,
            current: str = d.PASSWORD) -> Any:
    page = client.get("/compte/informations").get_data(as_text=True)
    response = client.post("/compte/informations/courriel", data={
        "csrf_token": csrf_token(page), "current": current, "email": address,
        "confirm": confirm or address})
    outbox.wait_idle()
    return response


def link_code(sink: SmtpSink, to: str) -> str:
    message = [m for m in sink.received() if m["To"] == to][-1]
    body = body_of(message)
    match = LINK.search(body)
    assert match, body
    assert f"copiez celui-ci :\n{match.group(1)}" in body
    return match.group(1)


def confirm(client: FlaskClient, code: str, **password: str) -> Any:
    return submit(client, CONFIRM, code=code, **password)


def test_an_email_change_is_confirmed_by_a_link_sent_to_the_new_address(
        world: World, smtp_sink: SmtpSink) -> None:
    client = signed_in(world, world.person)

    asked = ask_for(client, NEW_ADDRESS)

    assert asked.status_code == 302
    assert f"Un courriel vient d'être envoyé à {NEW_ADDRESS}" in text(
        client.get(asked.headers["Location"]))
    [to_new] = smtp_sink.received()
    assert to_new["To"] == NEW_ADDRESS
    assert to_new["Subject"] == "PLAGE – Confirmez votre nouvelle adresse électronique"
    code = link_code(smtp_sink, NEW_ADDRESS)
    with world.app.app_context():
        assert account_of(world, world.person).email == world.email  # not before the link

    landing = client.get(CONFIRM)  # the link's page: its script posts the code
    assert "data-link-code" in text(landing) and code not in text(landing)
    assert landing.headers["Cache-Control"] == "no-store"
    done = confirm(client, code)

    assert done.status_code == 302
    assert f"Votre adresse électronique est désormais {NEW_ADDRESS}." in text(
        client.get(done.headers["Location"]))
    with world.app.app_context():
        person = account_of(world, world.person)
        assert (person.email, person.email_verified) == (NEW_ADDRESS, True)
    told = [m for m in smtp_sink.received() if m["To"] == world.email]
    assert [m["Subject"] for m in told] == [
        "PLAGE – L'adresse électronique de votre compte a changé"]
    assert NEW_ADDRESS in body_of(told[0])
    [event] = audit(world, "account.email_change")
    assert event.details["changes"]["email"] == [world.email, NEW_ADDRESS]

    again = confirm(client, code)  # single use
    assert again.status_code == 400 and "n'est plus valable" in text(again)


def test_bad_new_addresses_are_answered_next_to_the_field(world: World,
                                                          smtp_sink: SmtpSink) -> None:
    client = signed_in(world, world.person)

    wrong = ask_for(client, NEW_ADDRESS, current="pas-le-bon")
    mismatch = ask_for(client, NEW_ADDRESS, "autre@nouvel-og.test")
    same = ask_for(client, world.email.upper())
    invalid = ask_for(client, "pas-une-adresse")

    assert wrong.status_code == mismatch.status_code == same.status_code == 400
    assert invalid.status_code == 400
    # The current password is asked (ASVS 7.5.1) and counted like a login attempt.
    assert 'id="current-error">Le mot de passe actuel saisi est incorrect.' in text(wrong)
    assert f'value="{NEW_ADDRESS}"' in text(wrong)
    assert ('id="confirm-error">Les deux adresses saisies sont différentes.'
            in text(mismatch))
    assert f'value="{NEW_ADDRESS}"' in text(mismatch)  # what was typed stays
    assert 'id="email-error">Cette adresse est déjà celle de votre compte.' in text(same)
    assert 'id="email-error">Saisissez une adresse électronique valide' in text(invalid)
    assert smtp_sink.received() == []


def test_the_link_opened_in_another_browser_asks_the_account_s_password(
        world: World, smtp_sink: SmtpSink) -> None:
    """The mail read on a phone, say: the code proves the new address, the password of
    the account that asked proves the account; nobody is signed in by it."""
    ask_for(signed_in(world, world.person), NEW_ADDRESS)
    code = link_code(smtp_sink, NEW_ADDRESS)
    phone = world.app.test_client()

    landing = phone.get(CONFIRM)  # not sent to the login page: the code is on this page
    assert landing.status_code == 200 and "data-link-code" in text(landing)
    asked = confirm(phone, code)
    page = " ".join(text(asked).split())
    assert asked.status_code == 200 and asked.headers["Cache-Control"] == "no-store"
    assert f"l'adresse {NEW_ADDRESS} pour le compte Plage {world.person}" in page
    assert f'name="code" value="{code}"' in page and 'id="password"' in page
    wrong = confirm(phone, code, password="pas-le-bon")
    assert wrong.status_code == 400
    assert 'id="password-error">Le mot de passe actuel saisi est incorrect.' in text(wrong)
    with world.app.app_context():
        assert account_of(world, world.person).email == world.email  # the link still waits

    done = confirm(phone, code, password=d.PASSWORD)

    assert done.status_code == 302 and done.headers["Location"] == "/connexion"
    assert f"Votre adresse électronique est désormais {NEW_ADDRESS}." in text(
        phone.get(done.headers["Location"]))
    assert phone.get("/compte/informations").status_code == 302  # still signed out
    with world.app.app_context():
        assert account_of(world, world.person).email == NEW_ADDRESS
    [event] = audit(world, "account.email_change")
    assert event.actor == world.person
    assert [m["To"] for m in smtp_sink.received()][-1] == world.email  # the old one told
    assert confirm(phone, code, password=d.PASSWORD).status_code == 400  # single use


def test_wrong_passwords_on_the_link_s_page_count_like_login_failures(
        world: World, smtp_sink: SmtpSink) -> None:
    ask_for(signed_in(world, world.person), NEW_ADDRESS)
    code = link_code(smtp_sink, NEW_ADDRESS)
    guesser = world.app.test_client()
    statuses = [confirm(guesser, code, password=f"essai-{i}").status_code for i in range(6)]
    assert statuses[0] == 400 and statuses[-1] == 429
    # Locked out even with the right password now, like the login page.
    assert confirm(guesser, code, password=d.PASSWORD).status_code == 429
    with world.app.app_context():
        assert account_of(world, world.person).email == world.email


def test_someone_elses_link_needs_its_account_s_password_and_stays_usable_by_its_owner(
        world: World, smtp_sink: SmtpSink) -> None:
    owner = signed_in(world, world.person)
    ask_for(owner, NEW_ADDRESS)
    code = link_code(smtp_sink, NEW_ADDRESS)
    intruder = signed_in(world, world.outsider)

    asked = confirm(intruder, code)
    refused = confirm(intruder, code, password="pas-le-bon")

    assert asked.status_code == 200
    assert "qui n'est pas celui avec lequel vous êtes connecté" in " ".join(text(asked).split())
    assert refused.status_code == 400
    with world.app.app_context():
        assert account_of(world, world.outsider).email != NEW_ADDRESS
        assert account_of(world, world.person).email == world.email
    assert confirm(owner, code).status_code == 302


def test_an_expired_or_superseded_link_is_refused(make_app: AppFactory, sqlite_url: str,
                                                  smtp_sink: SmtpSink) -> None:
    w = build(mailing(make_app, sqlite_url, smtp_sink, email_change_ttl=1))
    clock = store_clock(w.app)  # the link's expiry, without waiting for it
    client = signed_in(w, w.person)
    ask_for(client, NEW_ADDRESS)
    expired = link_code(smtp_sink, NEW_ADDRESS)
    clock.advance(1.2)
    assert confirm(client, expired).status_code == 400

    ask_for(client, "premiere@nouvel-og.test")
    ask_for(client, "seconde@nouvel-og.test")
    first = link_code(smtp_sink, "premiere@nouvel-og.test")
    second = link_code(smtp_sink, "seconde@nouvel-og.test")
    assert confirm(client, second).status_code == 302
    # The address changed since the first link was sent: it no longer applies.
    assert confirm(client, first).status_code == 400
    with w.app.app_context():
        assert account_of(w, w.person).email == "seconde@nouvel-og.test"
    outbox.wait_idle()


def test_email_change_requests_are_limited(world: World, smtp_sink: SmtpSink) -> None:
    client = signed_in(world, world.person)
    for n in range(3):
        assert ask_for(client, f"essai{n}@nouvel-og.test").status_code == 302
    refused = ask_for(client, "essai4@nouvel-og.test")
    assert refused.status_code == 429 and 'id="email-error">Trop de demandes' in text(refused)
    assert len(smtp_sink.received()) == 3


# --- Mes profils / habilitations ------------------------------------------------------


def test_the_profiles_table_marks_the_active_profile_and_shows_the_selected_ones_roles(
        world: World) -> None:
    client = signed_in(world, world.person)
    page = text(client.get("/compte/"))
    for heading in ("État du profil", "Libellé du profil", "Type d'entité", "Entité",
                    "Adresse électronique", "finess", "Administrateur ?", "Actions"):
        assert f'<th scope="col">{heading}</th>' in page
    assert '<option value="">Tous</option>' in page  # the filter row
    assert page.count('aria-current="true"') == 1
    active_row = page.split('aria-current="true"')[1].split("</tr>")[0]
    assert "(profil actif)" in active_row and "Directrice EHPAD Les Tilleuls" in active_row
    assert "Habilitations du profil sélectionné : « Directrice EHPAD Les Tilleuls »" in page
    assert "<td>Gestionnaire de fichiers</td>" in page

    other = text(client.get(f"/compte/?profil={world.profile_y}"))
    assert "Habilitations du profil sélectionné : « Directrice EHPAD Le Verger »" in other
    assert "<td>Lecteur</td>" in other and "<td>Gestionnaire de fichiers</td>" not in other


def test_the_filter_row_narrows_the_table(world: World) -> None:
    client = signed_in(world, world.person)
    verger = text(client.get("/compte/?entite=verger"))
    assert "<td>Directrice EHPAD Le Verger</td>" in verger
    assert "<td>Directrice EHPAD Les Tilleuls</td>" not in verger
    assert 'value="verger"' in verger
    none = text(client.get("/compte/?etat=en_attente"))
    assert "Aucun profil ne correspond à ces critères." in none
    both = text(client.get("/compte/?etat=actif&type=ET&finess=2500"))
    assert both.count("<td>Directrice EHPAD") == 2


def test_a_person_edits_his_profiles_own_label_email_and_phone(world: World) -> None:
    client = signed_in(world, world.person)
    path = f"/compte/profils/{world.profile_y}"
    assert 'value="Directrice EHPAD Le Verger"' in text(client.get(path))

    bad = submit(client, path, label="", email="verger@", phone="03 81 00 00 00")
    assert bad.status_code == 400
    assert 'id="label-error">Veuillez renseigner le libellé du profil.' in text(bad)
    assert 'id="email-error">Saisissez une adresse électronique valide' in text(bad)
    assert 'value="03 81 00 00 00"' in text(bad)

    saved = submit(client, path, label="Direction Le Verger", email="direction@verger.test",
                   phone="03 81 00 00 00")
    assert saved.status_code == 302
    page = text(client.get(saved.headers["Location"]))
    assert "Le profil « Direction Le Verger » a été enregistré." in page
    assert "<td>direction@verger.test</td>" in page
    with world.app.app_context():
        profile = db.session.get(Profile, world.profile_y)
        assert (profile.label, profile.email, profile.phone) == (
            "Direction Le Verger", "direction@verger.test", "03 81 00 00 00")
    [event] = audit(world, "profile.contact")
    assert event.details["changes"]["label"] == ["Directrice EHPAD Le Verger",
                                                 "Direction Le Verger"]
    # Emptied, the profile's address is the account's again.
    submit(client, path, label="Direction Le Verger", email="", phone="")
    with world.app.app_context():
        assert db.session.get(Profile, world.profile_y).email is None


def test_nobody_reads_or_edits_someone_elses_profile_by_url(world: World) -> None:
    client = signed_in(world, world.person)
    theirs = f"/compte/profils/{world.outsider_profile}"
    assert client.get(theirs).status_code == 404
    assert client.get(f"/compte/?profil={world.outsider_profile}").status_code == 404
    token = csrf_token(client.get("/compte/informations").get_data(as_text=True))
    with_token = client.post(theirs, data={"csrf_token": token, "label": "Piraté"})
    without = client.post(theirs, data={"label": "Piraté"})
    assert with_token.status_code == 404  # as an unknown profile
    assert without.status_code == 400  # refused before anything is looked up
    mine = client.post(f"/compte/profils/{world.profile_x}", data={"label": "Sans jeton"})
    assert mine.status_code == 400
    with world.app.app_context():
        assert db.session.get(Profile, world.outsider_profile).label == "Secrétariat"
        assert db.session.get(Profile, world.profile_x).label == "Directrice EHPAD Les Tilleuls"


# --- Regroupement de compte -----------------------------------------------------------


def sign_in_second(client: FlaskClient, identifier: str, password: str) -> Any:
    return submit(client, "/compte/regroupement", identifier=identifier, password=password)


def test_a_second_account_merges_and_closes(make_app: AppFactory, database_url: str,
                                            smtp_sink: SmtpSink) -> None:
    w = build(mailing(make_app, database_url, smtp_sink))
    elsewhere = signed_in(w, w.second)  # the second account, signed in on another browser
    with w.app.app_context():
        second = account_of(w, w.second)
        db.session.add(Grant(id="g-offline", client_id=d.client(
            "ANCRE", ["ANCRE"], ["https://ancre.test/cb"])[0].client_id,
            account_id=second.id, sid="sid-x", offline=True))
        db.session.commit()
    client = signed_in(w, w.person)

    proved = sign_in_second(client, w.second, d.PASSWORD)

    assert proved.status_code == 302
    assert proved.headers["Location"] == "/compte/regroupement/confirmer"
    page = text(client.get("/compte/regroupement/confirmer"))
    assert f"Le compte <strong>{w.second}</strong>" in page
    assert "« Direction OG » sur Association Les Tilleuls" in page
    done = submit(client, "/compte/regroupement/confirmer")

    assert done.status_code == 302
    assert f"les profils du compte {w.second} sont désormais sur votre compte {w.person}" in \
        text(client.get(done.headers["Location"]))
    with w.app.app_context():
        kept, closed = account_of(w, w.person), account_of(w, w.second)
        moved = db.session.get(Profile, w.second_profile)
        assert moved.account_id == kept.id and moved.email == "e.martin@og.test"
        assert closed.state == AccountState.INACTIVE and closed.profiles == []
        assert services.authenticate(w.second, d.PASSWORD) is None
        assert db.session.get(Grant, "g-offline").revoked_reason == "account_merged"
    assert "<td>Direction OG</td>" in text(client.get("/compte/"))
    assert elsewhere.get("/compte/").headers["Location"].startswith("/connexion")
    [merge] = audit(w, "account.merge")
    [close] = audit(w, "account.close")
    assert merge.target_id == w.person and close.target_id == w.second
    for event in (merge, close):
        assert event.details["kept"]["email"] == w.email
        assert event.details["closed"]["email"] == "e.martin@og.test"
        assert event.details["profiles"] == [w.second_profile]
    # Done once: nothing is left to confirm.
    assert client.get("/compte/regroupement/confirmer").headers["Location"] == \
        "/compte/regroupement"
    assert len(audit(w, "account.merge")) == 1


def test_a_merge_is_refused_when_the_names_differ(world: World) -> None:
    client = signed_in(world, world.person)

    refused = sign_in_second(client, world.namesake, d.PASSWORD)

    assert refused.status_code == 409
    html = text(refused)
    assert '<p class="alert alert-error" role="alert">Ces deux comptes ne portent pas les ' \
           'mêmes nom et prénom' in html
    assert client.get("/compte/regroupement/confirmer").headers["Location"] == \
        "/compte/regroupement"
    with world.app.app_context():
        assert account_of(world, world.namesake).state == AccountState.ACTIVE
    assert audit(world, "account.merge") == []
    itself = sign_in_second(client, world.person, d.PASSWORD)
    assert itself.status_code == 409 and "Vous êtes déjà connecté avec ce compte" in text(itself)


def test_wrong_passwords_on_the_merge_page_count_like_login_failures(
        world: World, smtp_sink: SmtpSink) -> None:
    client = signed_in(world, world.person)
    for _ in range(5):  # security.login_max_failures
        wrong = sign_in_second(client, world.second, "pas-le-bon")
        assert wrong.status_code == 401
        assert 'id="password-error">Identifiant ou mot de passe incorrect.' in text(wrong)
        assert f'value="{world.second}"' in text(wrong)

    outbox.wait_idle()
    [warning] = smtp_sink.received()  # the second account's holder is told, as at login
    assert warning["To"] == "e.martin@og.test"
    locked = sign_in_second(client, world.second, d.PASSWORD)

    assert locked.status_code == 429 and "Trop de tentatives" in text(locked)
    # The login page counts the same attempts: the pair is locked there too.
    assert sign_in(world.app.test_client(), world.second).status_code == 429
    with world.app.app_context():
        assert account_of(world, world.second).state == AccountState.ACTIVE


def test_the_merge_needs_its_csrf_token_and_its_own_sign_in(world: World) -> None:
    client = signed_in(world, world.person)
    forged = client.post("/compte/regroupement", data={"identifier": world.second,
                                                       "password": d.PASSWORD})
    assert forged.status_code == 400
    token = csrf_token(client.get("/compte/informations").get_data(as_text=True))
    skipped = client.post("/compte/regroupement/confirmer", data={"csrf_token": token})
    assert skipped.headers["Location"] == "/compte/regroupement"
    # Proved in one browser, confirmed without the token: refused, nothing moves.
    assert sign_in_second(client, world.second, d.PASSWORD).status_code == 302
    assert client.post("/compte/regroupement/confirmer", data={}).status_code == 400
    # Another person's browser cannot confirm what this one proved.
    other = signed_in(world, world.outsider)
    other_token = csrf_token(other.get("/compte/informations").get_data(as_text=True))
    assert other.post("/compte/regroupement/confirmer",
                      data={"csrf_token": other_token}).status_code == 302
    with world.app.app_context():
        assert account_of(world, world.second).state == AccountState.ACTIVE
        assert db.session.get(Profile, world.second_profile).account.identifier == world.second


# --- Mon historique -------------------------------------------------------------------


def test_the_history_shows_this_accounts_records_a_page_at_a_time(world: World) -> None:
    client = signed_in(world, world.person)
    for n in range(25):
        submit(client, "/compte/informations", family_name="Martin", given_name="Élodie",
               phone=f"03 81 00 00 {n:02d}", address="")

    html = client.get("/compte/historique").get_data(as_text=True)
    first = text(client.get("/compte/historique"))

    after = re.search(r'href="/compte/historique\?apres=(\d+)" rel="next"', html)
    assert after and 'rel="prev"' not in html
    assert first.count("Modification des informations personnelles") == 20
    second = text(client.get(f"/compte/historique?apres={after[1]}"))
    assert "Création du compte" in second and "Création d'un profil" in second
    assert "Habilitation attribuée" in second and "Connexion" in second
    assert "Création du compte" not in first
    assert "Modification des informations personnelles" in second  # the 5 left
    # Nothing of anybody else's.
    with world.app.app_context():
        total = len([e for e in db.session.scalars(select(AuditEvent))
                     if e.target_id in (world.outsider, str(world.outsider_profile))])
    assert total > 0
    outsider = text(signed_in(world, world.outsider).get("/compte/historique"))
    assert "Modification des informations personnelles" not in outsider
    # A malformed cursor, or a row of someone else's history: the first page.
    with world.app.app_context():
        foreign = max(e.id for e in db.session.scalars(select(AuditEvent))
                      if e.target_id == world.outsider)
    for cursor in ("apres=abc", f"apres={10**30}", f"avant={foreign}", f"apres={foreign}"):
        assert text(client.get(f"/compte/historique?{cursor}")) == first, cursor
