"""Logout: RP-initiated logout (the application sends the person to /logout), back-channel
logout tokens to every application of the session (the outbox's `backchannel` channel and
the `idp outbox` commands), and the withdrawal of consent from "Mes applications".

The provider is served over HTTP and driven as a browser and relying applications do
(tests/support/oidc.py); logout tokens are received by a real HTTP endpoint and checked
with PyJWT against /jwks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from idp.cli import cli
from idp.consent.models import Consent
from idp.core.clock import utcnow
from idp.extensions import db
from idp.oidc import backchannel
from idp.oidc.models import Grant
from idp.outbox import delivery
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from tests.support.clock import eventually, store_clock
from tests.support.html import csrf_token
from tests.support.oidc import (
    Applications,
    Browser,
    Provider,
    Serve,
    Tokens,
    audit_events,
    claims_of,
    tdbesms_applications,
)
from tests.support.receivers import Receivers, SilentServer

CONFIRM = "Voulez-vous vous déconnecter de PLAGE ?"
LOGGED_OUT = "Vous êtes déconnecté de PLAGE"
OFFLINE = "openid profile offline_access"


@pytest.fixture
def op(serve: Serve, sqlite_url: str) -> Provider:
    return serve(sqlite_url)


def deliveries(op: Provider) -> list[OutboxItem]:
    def work() -> list[OutboxItem]:
        rows = list(db.session.scalars(select(OutboxItem).where(
            OutboxItem.channel == backchannel.CHANNEL).order_by(OutboxItem.id)))
        db.session.expunge_all()
        return rows

    return op.run(work)


# --- discovery ------------------------------------------------------------------------


def test_discovery_announces_the_end_session_endpoint_and_back_channel_logout(
        op: Provider) -> None:
    metadata = op.metadata

    assert metadata["end_session_endpoint"] == op.issuer + "/logout"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


# --- RP-initiated logout --------------------------------------------------------------


def test_an_application_logs_the_person_out_and_gets_her_back_with_its_state(
        serve: Serve, database_url: str) -> None:
    op = serve(database_url)
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)
    offline = apps.stats.login(browser, scope=OFFLINE)
    assert apps.tdb.userinfo(tdb.access_token).status_code == 200

    answer = browser.end_session(id_token_hint=tdb.id_token, state="xyz-42",
                                 post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")

    assert answer.status == 303
    assert answer.location == (apps.tdb.post_logout_redirect_uri, {"state": "xyz-42"})
    assert answer.headers["Cache-Control"] == "no-store"
    # The provider session is over: a silent login attempt is refused.
    assert not browser.signed_in(apps.tdb)
    # The tokens of the session stop working...
    assert apps.tdb.userinfo(tdb.access_token).status_code == 401
    assert apps.tdb.refresh_request(tdb.refresh_token).json()["error"] == "invalid_grant"
    # ...except the offline_access grant, made to outlive the session.
    assert apps.stats.userinfo(offline.access_token).status_code == 200
    refreshed = apps.stats.refresh_request(offline.refresh_token)
    assert refreshed.status_code == 200, refreshed.text
    sid = tdb.id_claims["sid"]
    [logged] = audit_events(op, "logout")
    assert logged["sid"] == sid and logged["initiator"] == apps.tdb.client_id
    assert logged["revoked_grants"] == 1
    assert sorted(logged["clients"]) == sorted([apps.tdb.client_id, apps.stats.client_id])


def test_the_logout_request_may_also_be_posted_by_the_application(op: Provider) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)

    answer = browser.post(op.endpoint("end_session"), {
        "id_token_hint": tokens.id_token, "client_id": apps.tdb.client_id,
        "post_logout_redirect_uri": apps.tdb.post_logout_redirect_uri or "",
        "ui_locales": "fr-FR"})

    assert answer.status == 303
    assert answer.location == (apps.tdb.post_logout_redirect_uri, {})
    assert not browser.signed_in(apps.tdb)


def test_without_a_return_address_the_person_sees_our_page(op: Provider) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)

    answer = browser.end_session(id_token_hint=tokens.id_token, state="ignored")

    assert answer.status == 200 and LOGGED_OUT in answer.visible_text
    assert not browser.signed_in(apps.tdb)


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda uri: "https://evil.example/au-revoir", id="unregistered"),
    pytest.param(lambda uri: uri + "?next=https://evil.example", id="query-added"),
    pytest.param(lambda uri: uri + "/", id="trailing-slash"),
    pytest.param(lambda uri: uri.replace("https://", "http://"), id="scheme"),
    pytest.param(lambda uri: uri.upper(), id="case"),
])
def test_a_return_address_not_registered_exactly_is_never_followed(
        op: Provider, tamper: Callable[[str], str]) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)
    target = tamper(apps.tdb.post_logout_redirect_uri or "")

    asked = browser.end_session(id_token_hint=tokens.id_token, state="s",
                                post_logout_redirect_uri=target)

    assert asked.status == 200 and "Location" not in asked.headers
    assert CONFIRM in asked.visible_text and "n'est pas enregistrée" in asked.visible_text
    assert browser.signed_in(apps.tdb)  # nothing happened without the person's say
    done = browser.post_form(asked, "decision", decision="logout")
    assert done.status == 200 and "Location" not in done.headers
    assert LOGGED_OUT in done.visible_text
    assert not browser.signed_in(apps.tdb)


def _forged(tokens: Tokens, foreign: Tokens) -> dict[str, str]:
    claims = tokens.id_claims
    header = pyjwt.get_unverified_header(tokens.id_token)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    head, _body, signature = tokens.id_token.split(".")
    tampered_body = pyjwt.utils.base64url_encode(
        json.dumps({**claims, "sub": "000000"}).encode()).decode()
    return {
        "other-key": pyjwt.encode(claims, other_key, algorithm="RS256",
                                  headers={"kid": header["kid"]}),
        "tampered": f"{head}.{tampered_body}.{signature}",
        "alg-none": pyjwt.encode(claims, None, algorithm="none"),
        "other-issuer": pyjwt.encode({**claims, "iss": "https://evil.example"}, other_key,
                                     algorithm="RS256"),
        "access-token": tokens.access_token,
        "foreign": foreign.id_token,  # ours, but issued to another application
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("kind", ["other-key", "tampered", "alg-none", "other-issuer",
                                  "access-token", "foreign", "garbage"])
def test_a_forged_or_foreign_hint_is_never_redirected_to_and_asks_first(
        op: Provider, kind: str) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)
    foreign = apps.regional.login(browser)
    hint = _forged(tokens, foreign)[kind]

    asked = browser.end_session(
        id_token_hint=hint, client_id=apps.tdb.client_id, state="s",
        post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")

    assert asked.status == 200 and "Location" not in asked.headers
    text = asked.visible_text
    assert CONFIRM in text and "n'a pas pu être vérifiée" in text
    assert "Tableau de bord ESMS" not in text  # an unverified request names no application
    assert browser.signed_in(apps.tdb)
    assert apps.tdb.userinfo(tokens.access_token).status_code == 200
    done = browser.post_form(asked, "decision", decision="logout")
    assert done.status == 200 and "Location" not in done.headers
    assert LOGGED_OUT in done.visible_text


def test_without_a_hint_the_person_confirms_with_the_form_and_nothing_else(
        op: Provider) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)

    asked = browser.get("/logout")
    assert asked.status == 200 and CONFIRM in asked.visible_text
    assert 'value="logout"' in asked.html and "Se déconnecter" in asked.html
    assert "Annuler" in asked.html
    assert browser.signed_in(apps.tdb)

    # A forged POST (another site's form): no CSRF token, no logout.
    forged = browser.post("/logout", {"decision": "logout"})
    assert forged.status == 400
    wrong = browser.post("/logout", {"decision": "logout", "csrf_token": "x" * 40})
    assert wrong.status == 400
    assert browser.signed_in(apps.tdb)
    assert apps.tdb.userinfo(tokens.access_token).status_code == 200

    done = browser.post("/logout", {"csrf_token": csrf_token(asked.html), "decision": "logout"})
    assert done.status == 200 and LOGGED_OUT in done.visible_text
    assert not browser.signed_in(apps.tdb)
    assert apps.tdb.userinfo(tokens.access_token).status_code == 401


def test_cancelling_keeps_the_person_signed_in(op: Provider) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    apps.tdb.login(browser)
    asked = browser.get("/logout")

    answer = browser.post("/logout", {"csrf_token": csrf_token(asked.html),
                                      "decision": "cancel"})

    assert answer.status == 302 and answer.headers["Location"].endswith("/compte/")
    assert "Vous êtes toujours connecté à PLAGE." in browser.get("/compte/").visible_text
    assert browser.signed_in(apps.tdb)


def test_a_hint_from_an_earlier_session_asks_then_returns_to_the_application(
        op: Provider) -> None:
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    old = apps.tdb.login(browser)
    browser.end_session(id_token_hint=old.id_token)
    browser.sign_in(apps.identifier)  # a new session, with a new sid
    apps.tdb.login(browser)

    asked = browser.end_session(id_token_hint=old.id_token, state="s1",
                                post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")
    assert asked.status == 200 and CONFIRM in asked.visible_text
    assert "L'application Tableau de bord ESMS demande votre déconnexion." in asked.visible_text

    done = browser.post_form(asked, "decision", decision="logout")
    assert done.status == 303
    assert done.location == (apps.tdb.post_logout_redirect_uri, {"state": "s1"})
    assert not browser.signed_in(apps.tdb)


def test_with_no_session_left_a_valid_hint_still_ends_the_session_it_names(
        serve: Serve, sqlite_url: str, receiver: Receivers) -> None:
    op = serve(sqlite_url, oidc={"session_idle_timeout": 2})
    pass_time = store_clock(op.app).advance
    rec, base = receiver()
    apps = tdbesms_applications(op, base)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)
    regional = apps.regional.login(browser)
    pass_time(2.2)  # the provider session ended (idle) while the applications' lived on
    assert not browser.signed_in(apps.tdb)

    answer = browser.end_session(id_token_hint=tdb.id_token, state="s",
                                 post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")

    assert answer.status == 303
    assert apps.regional.userinfo(regional.access_token).status_code == 401
    assert {claims_of(t)["aud"] for t in rec.wait_for(2)} == {apps.tdb.client_id,
                                                              apps.regional.client_id}
    # Replayed, the request notifies nobody a second time.
    again = browser.end_session(id_token_hint=tdb.id_token)
    assert again.status == 200 and LOGGED_OUT in again.visible_text
    assert outbox.wait_idle(10)
    assert len(deliveries(op)) == 2 and len(audit_events(op, "logout")) == 1


# --- back-channel logout --------------------------------------------------------------


def test_each_application_of_the_session_receives_a_signed_logout_token(
        op: Provider, receiver: Receivers) -> None:
    rec, base = receiver()
    apps = tdbesms_applications(op, base)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)
    regional = apps.regional.login(browser)
    apps.stats.login(browser)  # no back-channel URI: nothing to send

    answer = browser.end_session(id_token_hint=tdb.id_token,
                                 post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")
    assert answer.status == 303

    tokens = rec.wait_for(2)
    assert len(tokens) == 2
    assert all(ct.startswith("application/x-www-form-urlencoded") for ct in rec.content_types)
    by_client = {claims_of(t)["aud"]: t for t in tokens}
    assert set(by_client) == {apps.tdb.client_id, apps.regional.client_id}
    id_claims = tdb.id_claims
    for party, tokens_of in ((apps.tdb, tdb), (apps.regional, regional)):
        claims = party.verify_logout_token(by_client[party.client_id])
        assert claims["sid"] == tokens_of.id_claims["sid"] == id_claims["sid"]
        assert claims["sub"] == apps.identifier
    assert len({claims_of(t)["jti"] for t in tokens}) == 2
    assert outbox.wait_idle(10)
    rows = deliveries(op)
    assert [(r.attempts, r.delivered_at is not None, r.last_error) for r in rows] == [
        (1, True, None), (1, True, None)]
    assert [r.payload for r in rows] == [None, None]  # the record stays, not the session


def test_a_failing_application_gets_its_logout_token_after_retries(
        op: Provider, receiver: Receivers) -> None:
    rec, base = receiver(failures=2)
    apps = tdbesms_applications(op, base)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)

    browser.end_session(id_token_hint=tokens.id_token)
    assert outbox.wait_idle(10) and rec.calls == 1  # the first attempt, in the background
    [waiting] = deliveries(op)
    assert waiting.last_error == "HTTP 503" and waiting.next_attempt_at is not None
    # The cron's next runs, each at the time the retry is due.
    for _ in range(2):
        [due] = deliveries(op)
        op.run(partial(delivery.deliver_due, now=due.next_attempt_at))

    [token] = rec.wait_for(1)
    assert rec.calls == 3
    apps.tdb.verify_logout_token(token)
    [row] = deliveries(op)
    assert row.attempts == 3 and row.delivered_at is not None and row.last_error is None


def test_an_application_that_does_not_answer_never_holds_up_the_logout(
        serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url, oidc={"backchannel_logout_timeout": 3},
               outbox={"backchannel_give_up_after_attempts": 1})
    silent = SilentServer()
    try:
        apps = tdbesms_applications(op, silent.base)
        browser = Browser(op)
        browser.sign_in(apps.identifier)
        tokens = apps.tdb.login(browser)

        started = time.monotonic()
        answer = browser.end_session(
            id_token_hint=tokens.id_token,
            post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")
        elapsed = time.monotonic() - started

        assert answer.status == 303 and elapsed < 1.5, elapsed
        assert not browser.signed_in(apps.tdb)
        assert outbox.wait_idle(10)
        [row] = deliveries(op)
        assert row.delivered_at is None and row.attempts == 1
        assert row.last_error and "Timeout" in row.last_error
        assert row.abandoned_at is not None and row.payload is None
        [abandoned] = audit_events(op, "outbox.abandoned")
        assert abandoned["channel"] == "backchannel"
        assert abandoned["recipient"] == apps.tdb.client_id
    finally:
        silent.close()


def test_an_unreachable_application_is_retried_later_and_the_page_still_shows(
        serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url, outbox={"backchannel_first_retry": 3600})
    closed = SilentServer()
    closed.close()  # nothing listens there any more: connection refused
    apps = tdbesms_applications(op, closed.base)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tokens = apps.tdb.login(browser)

    answer = browser.end_session(id_token_hint=tokens.id_token)

    assert answer.status == 200 and LOGGED_OUT in answer.visible_text
    eventually(lambda: deliveries(op)[0].last_error, what="the first attempt's failure")
    [row] = deliveries(op)
    assert row.attempts == 1 and row.delivered_at is None
    assert "ConnectionError" in (row.last_error or "")
    assert row.next_attempt_at > utcnow() + timedelta(minutes=59)  # waits for the cron


# --- the `idp outbox` commands --------------------------------------------------------


def _queue_for(op: Provider, apps: Applications, sid: str, **row: Any) -> int:
    """A logout token queued by an earlier process, which never sent it."""

    def work() -> int:
        backchannel.queue([apps.tdb.client_id], sid, apps.identifier)
        db.session.commit()  # and no send_after_commit(): the process stopped here
        item = db.session.scalars(select(OutboxItem).order_by(OutboxItem.id.desc())).first()
        assert item is not None
        for name, value in row.items():
            setattr(item, name, value)
        db.session.commit()
        return item.id

    return op.run(work)


def outbox_command(op: Provider, *args: str) -> Any:
    return op.app.test_cli_runner().invoke(cli, ["outbox", *args])


def test_the_deliver_command_sends_what_is_due_and_only_that(
        op: Provider, receiver: Receivers) -> None:
    rec, base = receiver()
    apps = tdbesms_applications(op, base)
    due = _queue_for(op, apps, "sid-due")
    later = _queue_for(op, apps, "sid-later", next_attempt_at=utcnow() + timedelta(hours=1))
    given_up = _queue_for(op, apps, "sid-given-up", attempts=12, abandoned_at=utcnow(),
                          next_attempt_at=None, payload=None)

    result = outbox_command(op, "deliver", "--channel", "backchannel", "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {"channels": {"backchannel": {
        "delivered": 1, "retry_later": 0, "abandoned": 0, "left": 0, "pending": 1}},
        "failures": []}
    [token] = rec.tokens
    assert apps.tdb.verify_logout_token(token)["sid"] == "sid-due"
    rows = {r.id: r for r in deliveries(op)}
    assert rows[due].delivered_at is not None
    assert rows[later].delivered_at is None and rows[given_up].delivered_at is None

    pending = outbox_command(op, "pending", "--json")
    assert pending.exit_code == 0, pending.output
    assert {(r["id"], r["state"]) for r in json.loads(pending.stdout)} == {
        (later, "waiting"), (given_up, "abandoned")}
    again = outbox_command(op, "deliver")
    assert again.exit_code == 0 and "backchannel: 0 delivered" in again.output
    assert len(rec.tokens) == 1


def test_the_deliver_command_reports_failures_to_retry(op: Provider) -> None:
    closed = SilentServer()
    closed.close()
    apps = tdbesms_applications(op, closed.base)
    row_id = _queue_for(op, apps, "sid-1")

    result = outbox_command(op, "deliver")

    assert result.exit_code == 0, result.output
    assert "backchannel: 0 delivered, 1 to retry later, 0 abandoned" in result.output
    assert f"#{row_id} backchannel {apps.tdb.client_id}: ConnectionError" in result.output


def test_a_logout_token_queued_long_ago_is_signed_when_it_is_sent(
        op: Provider, receiver: Receivers) -> None:
    rec, base = receiver()
    apps = tdbesms_applications(op, base)
    an_hour_ago = utcnow() - timedelta(hours=1)
    row_id = _queue_for(op, apps, "sid-old", created_at=an_hour_ago,
                        next_attempt_at=an_hour_ago)
    queued = op.run(lambda: db.session.get(OutboxItem, row_id).payload)

    outbox_command(op, "deliver")

    [token] = rec.tokens
    claims = apps.tdb.verify_logout_token(token)  # exp checked by PyJWT
    assert claims["jti"] == queued["jti"] and claims["sid"] == "sid-old"
    assert time.time() - claims["iat"] < 60


def test_two_processes_never_send_the_same_delivery_twice(
        serve: Serve, database_url: str, receiver: Receivers) -> None:
    op = serve(database_url)
    rec, base = receiver(delay=0.5)
    apps = tdbesms_applications(op, base)
    row_id = _queue_for(op, apps, "sid-race")
    barrier = threading.Barrier(4)
    reports: list[delivery.DeliveryReport] = []

    def worker() -> None:
        barrier.wait()
        reports.append(op.run(lambda: delivery.deliver_due(ids=[row_id])))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert rec.calls == 1
    assert sorted(len(r.delivered) for r in reports) == [0, 0, 0, 1]
    [row] = deliveries(op)
    assert row.attempts == 1 and row.delivered_at is not None


# --- Mes applications: withdrawing consent --------------------------------------------


def test_withdrawing_consent_revokes_the_application_access(
        op: Provider, receiver: Receivers) -> None:
    rec, base = receiver()
    apps = tdbesms_applications(op, base, first_party=False)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser, scope="openid profile habilitations offline_access")
    regional = apps.regional.login(browser)

    home = browser.get("/compte/")
    assert 'href="/compte/applications"' in home.html and "Mes applications" in home.html
    page = browser.get("/compte/applications")
    assert page.status == 200
    text = page.visible_text
    assert "Tableau de bord ESMS" in text and "Portail ARS" in text
    assert "Vos nom, prénom et identifiant Plage" in text
    assert ("L'accès à ces informations lorsque vous n'êtes pas connecté, pendant 90 jours "
            "au plus ou jusqu'à ce que vous retiriez votre accord") in text
    assert utcnow().strftime("%d/%m/%Y") in text
    assert "Retirer mon accord à Tableau de bord ESMS" in text  # the button's full name

    # Without the CSRF token, nothing happens.
    refused = browser.post(f"/compte/applications/{apps.tdb.client_id}/retirer", {})
    assert refused.status == 400
    assert apps.tdb.userinfo(tdb.access_token).status_code == 200

    answer = browser.post(f"/compte/applications/{apps.tdb.client_id}/retirer",
                          {"csrf_token": csrf_token(page.html)})
    assert answer.status == 302
    after = browser.get(answer.headers["Location"]).visible_text
    assert ("Votre accord a été retiré : Tableau de bord ESMS n'a plus accès à vos "
            "informations.") in after
    assert "Retirer mon accord à Tableau de bord ESMS" not in after
    assert "Retirer mon accord à Portail ARS" in after

    # Its tokens stop working, the offline ones included; the other application keeps its.
    assert apps.tdb.userinfo(tdb.access_token).status_code == 401
    assert apps.tdb.refresh_request(tdb.refresh_token).status_code == 400
    assert apps.regional.userinfo(regional.access_token).status_code == 200
    [token] = rec.wait_for(1)
    claims = apps.tdb.verify_logout_token(token)
    assert claims["sid"] == tdb.id_claims["sid"]
    assert op.run(lambda: [c.client_id for c in db.session.scalars(select(Consent))]) == [
        apps.regional.client_id]
    [withdrawn] = audit_events(op, "consent.withdraw")
    assert withdrawn["client"] == apps.tdb.client_id
    reasons = op.run(lambda: {g.client_id: g.revoked_reason
                              for g in db.session.scalars(select(Grant))})
    assert reasons == {apps.tdb.client_id: "consent_withdrawn", apps.regional.client_id: None}
    # The application must ask again.
    assert apps.tdb.ask(browser, prompt="none")["error"] == "consent_required"
    # Withdrawing twice says there is nothing to withdraw.
    again = browser.post(f"/compte/applications/{apps.tdb.client_id}/retirer",
                         {"csrf_token": csrf_token(page.html)})
    assert ("Aucun accord n'est enregistré pour cette application."
            in browser.get(again.headers["Location"]).visible_text)


def test_mes_applications_needs_a_signed_in_person(op: Provider) -> None:
    answer = Browser(op).get("/compte/applications")
    assert answer.status == 302 and "/connexion" in answer.headers["Location"]
