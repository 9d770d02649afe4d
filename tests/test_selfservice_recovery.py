"""« Identifiant perdu ? », « Mot de passe oublié ? » and « Vérifier mon courriel », with a
real SMTP server: the mails carry the identifier or a single-use link, the pages never
tell whether an account exists, and a mail server that is down costs nothing but a delay."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.core.audit import AuditEvent
from idp.core.clock import utcnow
from idp.directory import services
from idp.directory.enums import AccountState
from idp.extensions import db
from idp.outbox import delivery
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from tests.support import directory as d
from tests.support.clock import store_clock
from tests.support.html import csrf_token, form_with
from tests.support.services import SmtpSink, body_of, free_port
from tests.support.sql import statements_of

AppFactory = Callable[..., Flask]
NEW_PASSWORD = "Nouveau-secret-2027!"
IDENTIFIER_SENT = "Si un compte correspond à cette adresse, un courriel vient de vous être envoyé."
RESET_SENT = "Si ces informations correspondent à un compte, un courriel vient de vous"
RESET = "/compte/mot-de-passe-oublie/nouveau"
# The code rides after "#": browsers never send it, so no access log keeps it.
LINK = re.compile(r"http://idp\.test/compte/mot-de-passe-oublie/nouveau#([A-Za-z0-9_-]+)")


@pytest.fixture
def people(make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink) -> Iterator[Any]:
    """The ANCRE world on SQLite, its mail going to the SMTP sink."""
    app = make_app(sqlite_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                     "smtp_port": smtp_sink.port})
    with app.app_context():
        world = d.ancre_world()
        person = {"identifier": world.person.identifier, "email": world.person.email}
    yield app, person
    outbox.wait_idle()


def submit(client: FlaskClient, path: str, **fields: str) -> TestResponse:
    """Open the form page, then post it with its CSRF token and `fields`."""
    page = client.get(path).get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_token(page), **fields})
    outbox.wait_idle()  # the mail, if any, has been tried
    return response


def text(response: TestResponse) -> str:
    return unescape(response.get_data(as_text=True))


def mails_in_outbox() -> list[OutboxItem]:
    return list(db.session.scalars(select(OutboxItem).where(OutboxItem.channel == "mail")))


def log_in(client: FlaskClient, identifier: str, password: str) -> int:
    return submit(client, "/connexion", identifier=identifier, password=password).status_code


def reset_code(sink: SmtpSink) -> str:
    """The code of the reset link in the last mail (also written out, to paste)."""
    body = body_of(sink.received()[-1])
    match = LINK.search(body)
    assert match, "no reset link in the mail"
    assert f"copiez celui-ci :\n{match.group(1)}" in body
    return match.group(1)


def open_link(client: FlaskClient, code: str) -> TestResponse:
    """What opening the link does: the page comes without the code, which its script
    (or the person, pasting it) sends back."""
    return submit(client, RESET, code=code)


def choose(client: FlaskClient, code: str, password: str, confirm: str) -> TestResponse:
    """Open the link and post the new password from the page it leads to."""
    form = form_with(open_link(client, code).get_data(as_text=True), "password")
    response = client.post(RESET, data={**form.fields, "password": password,
                                        "confirm": confirm})
    outbox.wait_idle()
    return response


# --- Identifiant perdu ? --------------------------------------------------------------


def test_the_login_page_leads_to_both_recovery_forms(people: Any) -> None:
    app, _ = people
    login = app.test_client().get("/connexion").get_data(as_text=True)
    assert 'href="/compte/identifiant-perdu"' in login
    assert 'href="/compte/mot-de-passe-oublie"' in login
    form = app.test_client().get("/compte/identifiant-perdu").get_data(as_text=True)
    assert '<label for="email">Adresse électronique' in form
    assert 'autocomplete="email"' in form


def test_a_lost_identifier_is_mailed_and_never_shown(people: Any, smtp_sink: SmtpSink) -> None:
    app, person = people
    client = app.test_client()

    known = submit(client, "/compte/identifiant-perdu", email=person["email"].upper())
    unknown = submit(client, "/compte/identifiant-perdu", email="personne@nulle-part.test")

    assert known.status_code == unknown.status_code == 200
    assert IDENTIFIER_SENT in text(known)
    assert person["identifier"] not in known.get_data(as_text=True)
    # Byte for byte the same page: nothing tells whether the address has an account.
    assert known.get_data() == unknown.get_data()
    [message] = smtp_sink.received()
    assert message["To"] == person["email"]
    assert message["Subject"] == "PLAGE – Rappel de votre identifiant"
    body = body_of(message)
    assert f"Votre identifiant Plage : {person['identifier']}" in body
    assert "Bonjour Élodie Martin," in body and "http://idp.test/connexion" in body
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "account.identifier_reminder")).all()
        assert [e.target_id for e in events] == [person["identifier"]]


def test_every_active_account_of_the_address_is_listed(people: Any,
                                                       smtp_sink: SmtpSink) -> None:
    app, _ = people
    with app.app_context():
        first = d.account("Louise", "Bernard", email="secretariat@ehpad.test")
        second = d.account("Marc", "Roux", email="Secretariat@ehpad.test")
        gone = d.account("Ancien", "Compte", email="secretariat@ehpad.test")
        gone.state = AccountState.INACTIVE
        db.session.commit()
        ids = first.identifier, second.identifier, gone.identifier

    submit(app.test_client(), "/compte/identifiant-perdu", email="secretariat@ehpad.test")

    [message] = smtp_sink.received()
    body = body_of(message)
    assert "Plusieurs comptes Plage sont associés à cette adresse" in body
    assert f"{ids[0]} (Louise Bernard)" in body and f"{ids[1]} (Marc Roux)" in body
    assert ids[2] not in body


def test_a_form_without_its_csrf_token_is_refused(people: Any, smtp_sink: SmtpSink) -> None:
    app, person = people
    response = app.test_client().post("/compte/identifiant-perdu",
                                      data={"email": person["email"]})
    assert response.status_code == 400
    outbox.wait_idle()
    assert smtp_sink.messages == []


def test_an_invalid_address_is_explained(people: Any) -> None:
    app, _ = people
    response = submit(app.test_client(), "/compte/identifiant-perdu", email="pas une adresse")
    assert response.status_code == 400
    page = text(response)
    assert "Saisissez une adresse électronique valide" in page
    assert 'aria-invalid="true"' in page and 'aria-describedby="email-error"' in page


# --- Mot de passe oublié ? ------------------------------------------------------------


def test_a_reset_link_sets_a_new_password_once(people: Any, smtp_sink: SmtpSink) -> None:
    app, person = people
    client = app.test_client()

    answer = submit(client, "/compte/mot-de-passe-oublie",
                    identifier=person["identifier"], email=person["email"])

    assert answer.status_code == 200 and RESET_SENT in text(answer)
    [message] = smtp_sink.received()
    assert message["To"] == person["email"]
    assert message["Subject"] == "PLAGE – Réinitialisation de votre mot de passe"
    assert "valable 60 minutes" in body_of(message)
    code = reset_code(smtp_sink)

    page = open_link(client, code)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert person["identifier"] in text(page)

    mismatch = choose(client, code, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert mismatch.status_code == 400
    assert "Les deux mots de passe saisis sont différents." in text(mismatch)
    weak = choose(client, code, "court", "court")
    assert weak.status_code == 400
    assert "Le mot de passe doit contenir au moins 12 caractères." in text(weak)

    done = choose(client, code, NEW_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/connexion"
    assert "Votre mot de passe a été modifié" in text(client.get("/connexion"))
    # The holder is told at his address, in case it was not him.
    notice = smtp_sink.received()[-1]
    assert notice["To"] == person["email"]
    assert notice["Subject"] == "PLAGE – Le mot de passe de votre compte a été modifié"
    assert "par le lien « Mot de passe oublié ? »" in body_of(notice)

    again = open_link(client, code)
    assert again.status_code == 400 and "Ce lien n'est plus valable" in text(again)
    assert log_in(app.test_client(), person["identifier"], d.PASSWORD) == 401
    assert log_in(app.test_client(), person["identifier"], NEW_PASSWORD) == 302
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.target_id == person["identifier"])).all()
        assert "account.password_reset_request" in actions and "account.password" in actions


def test_a_sent_reset_mail_leaves_no_link_in_the_outbox(people: Any,
                                                      smtp_sink: SmtpSink) -> None:
    app, person = people
    submit(app.test_client(), "/compte/mot-de-passe-oublie",
           identifier=person["identifier"], email=person["email"])
    token = reset_code(smtp_sink)

    with app.app_context():
        [sent] = mails_in_outbox()
        # What the delivery record needs stays; the body with the link is gone, and so
        # is what was typed in the request it answers.
        assert sent.delivered_at is not None and sent.payload is None
        assert sent.recipient == person["email"]
        assert sent.subject == "PLAGE – Réinitialisation de votre mot de passe"
        stored = db.session.execute(select(OutboxItem.__table__)).all()
        assert len(stored) == 2 and all(row.payload is None for row in stored)
        assert not any(token in str(value) for row in stored for value in row)


def test_a_reset_link_is_single_use_with_redis_too(make_app: AppFactory, sqlite_url: str,
                                                   redis_url: str,
                                                   smtp_sink: SmtpSink) -> None:
    app = make_app(sqlite_url, redis_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                                "smtp_port": smtp_sink.port})
    with app.app_context():
        person = d.account("Élodie", "Martin")
        db.session.commit()
        identifier, address = person.identifier, person.email
    client = app.test_client()
    submit(client, "/compte/mot-de-passe-oublie", identifier=identifier, email=address)
    code = reset_code(smtp_sink)

    assert choose(client, code, NEW_PASSWORD, NEW_PASSWORD).status_code == 302
    assert open_link(client, code).status_code == 400
    assert log_in(app.test_client(), identifier, NEW_PASSWORD) == 302


def test_a_weak_password_is_refused_with_the_policy_message(people: Any,
                                                            smtp_sink: SmtpSink) -> None:
    app, person = people
    client = app.test_client()
    submit(client, "/compte/mot-de-passe-oublie", identifier=person["identifier"],
           email=person["email"])
    response = choose(client, reset_code(smtp_sink), "toutenminuscules", "toutenminuscules")

    assert response.status_code == 400
    assert "mêler au moins trois types de caractères" in text(response)
    assert log_in(app.test_client(), person["identifier"], d.PASSWORD) == 302


def statements_of_the_request(app: Flask, path: str, **fields: str) -> list[str]:
    """The SQL the page itself runs for one submission (not its background senders)."""
    client = app.test_client()
    page = client.get(path).get_data(as_text=True)
    return statements_of(app, lambda: client.post(
        path, data={"csrf_token": csrf_token(page), **fields}))


@pytest.mark.parametrize(("path", "known", "unknown"), [
    ("/compte/identifiant-perdu", {"email": "{email}"}, {"email": "personne@example.test"}),
    ("/compte/mot-de-passe-oublie", {"identifier": "{identifier}", "email": "{email}"},
     {"identifier": "999999", "email": "personne@example.test"}),
])
def test_the_recovery_pages_do_the_same_work_for_known_and_unknown_people(
        people: Any, smtp_sink: SmtpSink, path: str, known: dict[str, str],
        unknown: dict[str, str]) -> None:
    # The same statements in the page for both: its timing cannot tell them apart (the
    # lookup, and the mail when one is due, happen in the background).
    app, person = people
    for_known = statements_of_the_request(
        app, path, **{k: v.format(**person) for k, v in known.items()})
    for_unknown = statements_of_the_request(app, path, **unknown)

    assert for_known == for_unknown
    assert not any("accounts" in statement for statement in for_known)
    assert len(smtp_sink.received()) == 1  # yet the holder got his mail


@pytest.mark.parametrize("case", ["wrong address", "unknown identifier", "inactive account"])
def test_forgot_password_gives_the_same_answer_and_no_mail(people: Any, smtp_sink: SmtpSink,
                                                           case: str) -> None:
    app, person = people
    fields = {"identifier": person["identifier"], "email": person["email"]}
    if case == "wrong address":
        fields["email"] = "autre@example.test"
    elif case == "unknown identifier":
        fields["identifier"] = "999999"
    else:
        with app.app_context():
            services.get_account(person["identifier"]).state = AccountState.INACTIVE
            db.session.commit()

    response = submit(app.test_client(), "/compte/mot-de-passe-oublie", **fields)

    assert response.status_code == 200 and RESET_SENT in text(response)
    assert smtp_sink.messages == []
    with app.app_context():
        assert mails_in_outbox() == []


def test_forged_links_are_refused(people: Any) -> None:
    app, _ = people
    client = app.test_client()
    for code in ("A" * 43, "trop-court"):
        response = open_link(client, code)
        assert response.status_code == 400
        page = text(response)
        assert "Ce lien n'est plus valable" in page
        assert 'href="/compte/mot-de-passe-oublie"' in page  # ask for a new one
        assert client.post(RESET, data={"code": code, "password": NEW_PASSWORD,
                                        "confirm": NEW_PASSWORD}).status_code == 400


def test_an_expired_link_is_refused(make_app: AppFactory, sqlite_url: str,
                                    smtp_sink: SmtpSink) -> None:
    app = make_app(sqlite_url, security={"password_reset_ttl": 1},
                   mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                         "smtp_port": smtp_sink.port})
    with app.app_context():
        person = d.account("Élodie", "Martin")
        db.session.commit()
        identifier, address = person.identifier, person.email
    clock = store_clock(app)  # mail links live in the short-lived store
    client = app.test_client()
    submit(client, "/compte/mot-de-passe-oublie", identifier=identifier, email=address)
    code = reset_code(smtp_sink)
    clock.advance(1.2)

    response = open_link(client, code)

    assert response.status_code == 400 and "Ce lien n'est plus valable" in text(response)


def test_a_link_asked_before_a_password_change_no_longer_works(people: Any,
                                                                smtp_sink: SmtpSink) -> None:
    app, person = people
    client = app.test_client()
    fields = {"identifier": person["identifier"], "email": person["email"]}
    submit(client, "/compte/mot-de-passe-oublie", **fields)
    older = reset_code(smtp_sink)
    submit(client, "/compte/mot-de-passe-oublie", **fields)
    newer = reset_code(smtp_sink)
    assert older != newer

    assert choose(client, newer, NEW_PASSWORD, NEW_PASSWORD).status_code == 302
    assert open_link(client, older).status_code == 400


def test_a_reset_lifts_a_login_lockout(people: Any, smtp_sink: SmtpSink) -> None:
    app, person = people
    for _ in range(5):
        log_in(app.test_client(), person["identifier"], "mauvais")
    assert log_in(app.test_client(), person["identifier"], d.PASSWORD) == 429

    client = app.test_client()
    submit(client, "/compte/mot-de-passe-oublie", identifier=person["identifier"],
           email=person["email"])
    choose(client, reset_code(smtp_sink), NEW_PASSWORD, NEW_PASSWORD)

    assert log_in(app.test_client(), person["identifier"], NEW_PASSWORD) == 302


# --- throttling -----------------------------------------------------------------------


def test_recovery_requests_are_throttled(make_app: AppFactory, sqlite_url: str,
                                         smtp_sink: SmtpSink) -> None:
    app = make_app(sqlite_url, security={"recovery_max_requests": 2,
                                         "recovery_max_requests_per_ip": 5},
                   mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                         "smtp_port": smtp_sink.port})
    with app.app_context():
        person = d.account("Élodie", "Martin")
        db.session.commit()
        identifier, address = person.identifier, person.email
    client = app.test_client()

    # Per address: two mails, then the same answer but no mail (a refusal on screen
    # would tell that the address has an account).
    for _ in range(2):
        assert submit(client, "/compte/identifiant-perdu", email=address).status_code == 200
    quiet = submit(client, "/compte/identifiant-perdu", email=address)
    assert quiet.status_code == 200 and IDENTIFIER_SENT in text(quiet)
    assert len(smtp_sink.messages) == 2
    # Per identifier, likewise (this is the client's 4th and 5th request).
    for _ in range(2):
        assert submit(client, "/compte/mot-de-passe-oublie", identifier=identifier,
                      email=address).status_code == 200
    # Per IP address: the 6th request is refused whatever it asks.
    other = submit(client, "/compte/identifiant-perdu", email="quelquun@example.test")
    assert other.status_code == 429
    assert "Trop de demandes en peu de temps" in text(other)
    assert len(smtp_sink.messages) == 4


def test_wrong_addresses_do_not_use_up_the_holders_reset_requests(
        make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink) -> None:
    """Three requests naming someone's identifier with wrong addresses used to block the
    real holder's reset for an hour: only requests whose address matched count."""
    app = make_app(sqlite_url, security={"recovery_max_requests": 3},
                   mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                         "smtp_port": smtp_sink.port})
    with app.app_context():
        person = d.account("Élodie", "Martin")
        db.session.commit()
        identifier, address = person.identifier, person.email
    stranger = app.test_client()
    for guess in ("a@example.test", "b@example.test", "c@example.test", "d@example.test"):
        answer = submit(stranger, "/compte/mot-de-passe-oublie", identifier=identifier,
                        email=guess)
        assert answer.status_code == 200 and RESET_SENT in text(answer)
    assert smtp_sink.messages == []
    holder = submit(app.test_client(), "/compte/mot-de-passe-oublie",
                    identifier=identifier, email=address)
    assert holder.status_code == 200
    assert len(smtp_sink.messages) == 1


# --- the mail server is down ----------------------------------------------------------


def test_with_the_mail_server_down_the_page_answers_and_the_mail_waits(
    make_app: AppFactory, sqlite_url: str
) -> None:
    port = free_port()
    app = make_app(sqlite_url, mail={"backend": "smtp", "smtp_host": "127.0.0.1",
                                     "smtp_port": port, "smtp_timeout": 5})
    with app.app_context():
        person = d.account("Élodie", "Martin")
        db.session.commit()
        identifier, address = person.identifier, person.email

    started = time.monotonic()
    response = submit(app.test_client(), "/compte/identifiant-perdu", email=address)

    assert response.status_code == 200 and IDENTIFIER_SENT in text(response)
    assert time.monotonic() - started < 5
    with app.app_context():
        [waiting] = mails_in_outbox()
        assert waiting.delivered_at is None and waiting.attempts == 1
        assert "Unreachable" in (waiting.last_error or "")

    sink = SmtpSink.start(port=port)
    try:
        with app.app_context():
            later = utcnow() + timedelta(minutes=2)
            assert delivery.deliver_due(now=later).delivered == [waiting.id]
        [message] = sink.received()
        assert identifier in body_of(message)
    finally:
        sink.stop()


# --- Vérifier mon courriel ------------------------------------------------------------


def test_the_check_mail_page_mails_any_address_to_a_visitor(people: Any,
                                                            smtp_sink: SmtpSink) -> None:
    """Training case 7: someone who receives nothing from PLAGE checks an address without
    signing in; the page names the sender to let through and says the same whatever the
    address, which gets three test mails an hour at most."""
    app, person = people
    client = app.test_client()
    login = text(client.get("/connexion"))
    assert 'href="/compte/verifier-mon-courriel"' in login
    page = text(client.get("/compte/verifier-mon-courriel"))
    assert '<label for="email">Adresse électronique' in page
    assert "ne-pas-repondre@plage.invalid" in page

    known = submit(client, "/compte/verifier-mon-courriel", email=person["email"])
    unknown = submit(client, "/compte/verifier-mon-courriel", email="quelquun@ailleurs.test")

    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert "laisser passer les courriels de ne-pas-repondre@plage.invalid" in text(known)
    assert {m["To"] for m in smtp_sink.received()} == {person["email"],
                                                        "quelquun@ailleurs.test"}
    assert all(m["Subject"] == "PLAGE – Courriel de test" for m in smtp_sink.received())

    for _ in range(3):
        again = submit(client, "/compte/verifier-mon-courriel", email="quelquun@ailleurs.test")
        assert again.get_data() == unknown.get_data()
    assert len(smtp_sink.received()) == 4  # past three a window, the address gets nothing

    bad = submit(client, "/compte/verifier-mon-courriel", email="pas-une-adresse")
    assert bad.status_code == 400
    assert 'id="email-error"' in bad.get_data(as_text=True)
    assert 'value="pas-une-adresse"' in bad.get_data(as_text=True)
    forged = client.post("/compte/verifier-mon-courriel", data={"email": person["email"]})
    assert forged.status_code == 400
    outbox.wait_idle()
    assert len(smtp_sink.received()) == 4


def test_the_check_mail_page_sends_a_test_mail(people: Any, smtp_sink: SmtpSink) -> None:
    app, person = people
    client = app.test_client()
    assert log_in(client, person["identifier"], d.PASSWORD) == 302
    assert 'href="/compte/verifier-mon-courriel"' in text(client.get("/compte/"))
    page = text(client.get("/compte/verifier-mon-courriel"))
    assert person["email"] in page and "Envoyer un courriel de test" in page

    sent = submit(client, "/compte/verifier-mon-courriel")

    assert sent.status_code == 302
    after = text(client.get(sent.headers["Location"]))
    assert f"Un courriel de test vient d'être envoyé à {person['email']}" in after
    assert "Le dernier courriel de test a été remis au serveur de messagerie" in after
    [message] = smtp_sink.received()
    assert message["To"] == person["email"]
    assert message["Subject"] == "PLAGE – Courriel de test"
    assert person["email"] in body_of(message)

    forged = client.post("/compte/verifier-mon-courriel", data={})
    assert forged.status_code == 400
    outbox.wait_idle()
    assert len(smtp_sink.messages) == 1
    # Three test mails per hour and account (recovery_max_requests), then a refusal.
    for _ in range(2):
        assert submit(client, "/compte/verifier-mon-courriel").status_code == 302
    refused = submit(client, "/compte/verifier-mon-courriel")
    assert refused.status_code == 429 and "Trop de demandes" in text(refused)
    assert len(smtp_sink.messages) == 3
