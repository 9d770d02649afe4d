"""Logout: RP-initiated logout (the application sends the person to /logout), back-channel
logout tokens to every application of the session (the outbox's `backchannel` channel and
the `idp outbox` commands), and the withdrawal of consent from "Mes applications".

The provider is served over HTTP and driven like a browser and relying applications do;
logout tokens are received by a real HTTP endpoint and checked with PyJWT against /jwks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from idp.cli import cli
from idp.consent.models import Consent
from idp.core.audit import AuditEvent
from idp.core.clock import utcnow
from idp.extensions import db
from idp.oidc import backchannel
from idp.oidc.models import Grant
from idp.outbox import delivery
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from tests.support import directory as d
from tests.support.html import form_with
from tests.support.logout import (
    ISSUER,
    Browser,
    Provider,
    Receiver,
    RelyingParty,
    SilentServer,
    csrf_token,
    location_params,
    page_text,
    userinfo,
)

CONFIRM = "Voulez-vous vous déconnecter de PLAGE ?"
LOGGED_OUT = "Vous êtes déconnecté de PLAGE"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


# --- fixtures -------------------------------------------------------------------------


Serve = Callable[..., Provider]


@pytest.fixture
def serve(make_app: Callable[..., Any], live_server: Callable[[Any], str]
          ) -> Iterator[Serve]:
    """Serve a provider on a database (settings sections as keywords); at the end, wait
    for its deliveries to settle."""

    def start(database_url: str, **sections: dict[str, Any]) -> Provider:
        app = make_app(database_url, **sections)
        return Provider(app, live_server(app))

    yield start
    assert outbox.wait_idle(20), "back-channel deliveries still running"


@pytest.fixture
def op(serve: Serve, sqlite_url: str) -> Provider:
    return serve(sqlite_url)


@pytest.fixture
def receiver(live_server: Callable[[Any], str]) -> Callable[..., tuple[Receiver, str]]:
    """Start a back-channel receiver; returns it and its base URL."""

    def start(failures: int = 0, delay: float = 0.0) -> tuple[Receiver, str]:
        rec = Receiver(failures=failures, delay=delay)
        return rec, live_server(rec.app)

    return start


@dataclass
class World:
    """Élodie Martin (ANCRE guide) and three applications registered for TDBESMS."""

    identifier: str
    tdb: RelyingParty  # back-channel logout at <receiver>/tdb
    regional: RelyingParty  # back-channel logout at <receiver>/regional
    stats: RelyingParty  # no back-channel URI


def build_world(op: Provider, backchannel_base: str | None = None,
                first_party: bool = True) -> World:
    def work() -> World:
        world = d.ancre_world()
        parties = []
        for name, path in (("Tableau de bord ESMS", "tdb"), ("Portail ARS", "regional"),
                           ("Statistiques", None)):
            slug = name.split()[0].lower()
            redirect_uri = f"https://{slug}.example.fr/oidc/callback"
            after = f"https://{slug}.example.fr/au-revoir"
            client, secret = d.client(
                name, ["TDBESMS"], [redirect_uri], first_party=first_party,
                post_logout_redirect_uris=[after],
                backchannel_logout_uri=f"{backchannel_base}/{path}"
                if backchannel_base and path else None)
            assert secret is not None
            parties.append(RelyingParty(client.client_id, secret, redirect_uri, after))
        db.session.commit()
        return World(world.person.identifier, *parties)

    return op.run(work)


def verified_logout_token(op: Provider, token: str, audience: str) -> dict[str, Any]:
    """Check a logout token as a relying application would, with PyJWT and our /jwks."""
    header = pyjwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    assert header["alg"] == "RS256" and header["kid"]
    key = pyjwt.PyJWKClient(op.base + "/jwks").get_signing_key_from_jwt(token)
    claims = pyjwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                          issuer=ISSUER,
                          options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]})
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 300  # short-lived
    return claims


def unverified(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


def deliveries(op: Provider) -> list[OutboxItem]:
    def work() -> list[OutboxItem]:
        rows = list(db.session.scalars(select(OutboxItem).where(
            OutboxItem.channel == backchannel.CHANNEL).order_by(OutboxItem.id)))
        db.session.expunge_all()
        return rows

    return op.run(work)


def events(op: Provider, action: str) -> list[dict[str, Any]]:
    return op.run(lambda: [e.details for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action))])


# --- discovery ------------------------------------------------------------------------


def test_discovery_announces_the_end_session_endpoint_and_back_channel_logout(
        op: Provider, ) -> None:
    browser = Browser(op)
    metadata = browser.get("/.well-known/openid-configuration").json()

    assert metadata["end_session_endpoint"] == ISSUER + "/logout"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


# --- RP-initiated logout --------------------------------------------------------------


def test_an_application_logs_the_person_out_and_gets_her_back_with_its_state(
        serve: Serve, database_url: str) -> None:
    op = serve(database_url)
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)
    offline = browser.sign_in(world.stats, scope="openid profile offline_access")
    assert userinfo(op, tdb["access_token"]).status_code == 200

    answer = browser.get("/logout", id_token_hint=tdb["id_token"], state="xyz-42",
                         post_logout_redirect_uri=world.tdb.post_logout_uri or "")

    assert answer.status_code == 303
    assert location_params(answer) == (world.tdb.post_logout_uri, {"state": "xyz-42"})
    assert answer.headers["Cache-Control"] == "no-store"
    # The provider session is over: a silent login attempt is refused.
    assert not browser.signed_in(world.tdb)
    # The tokens of the session stop working...
    assert userinfo(op, tdb["access_token"]).status_code == 401
    assert world.tdb.refresh(op, tdb["refresh_token"]).json()["error"] == "invalid_grant"
    # ...except the offline_access grant, made to outlive the session.
    assert userinfo(op, offline["access_token"]).status_code == 200
    refreshed = world.stats.refresh(op, offline["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    sid = unverified(tdb["id_token"])["sid"]
    [logged] = events(op, "logout")
    assert logged["sid"] == sid and logged["initiator"] == world.tdb.client_id
    assert logged["revoked_grants"] == 1
    assert sorted(logged["clients"]) == sorted([world.tdb.client_id, world.stats.client_id])


def test_the_logout_request_may_also_be_posted_by_the_application(op: Provider) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)

    answer = browser.http.post(op.base + "/logout", allow_redirects=False, timeout=10, data={
        "id_token_hint": tokens["id_token"], "client_id": world.tdb.client_id,
        "post_logout_redirect_uri": world.tdb.post_logout_uri, "ui_locales": "fr-FR"})

    assert answer.status_code == 303
    assert location_params(answer) == (world.tdb.post_logout_uri, {})
    assert not browser.signed_in(world.tdb)


def test_without_a_return_address_the_person_sees_our_page(op: Provider) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)

    answer = browser.get("/logout", id_token_hint=tokens["id_token"], state="ignored")

    assert answer.status_code == 200 and LOGGED_OUT in page_text(answer)
    assert not browser.signed_in(world.tdb)


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda uri: "https://evil.example/au-revoir", id="unregistered"),
    pytest.param(lambda uri: uri + "?next=https://evil.example", id="query-added"),
    pytest.param(lambda uri: uri + "/", id="trailing-slash"),
    pytest.param(lambda uri: uri.replace("https://", "http://"), id="scheme"),
    pytest.param(lambda uri: uri.upper(), id="case"),
])
def test_a_return_address_not_registered_exactly_is_never_followed(
        op: Provider, tamper: Callable[[str], str]) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)
    target = tamper(world.tdb.post_logout_uri or "")

    asked = browser.get("/logout", id_token_hint=tokens["id_token"], state="s",
                        post_logout_redirect_uri=target)

    assert asked.status_code == 200 and "Location" not in asked.headers
    assert CONFIRM in page_text(asked) and "n'est pas enregistrée" in page_text(asked)
    assert browser.signed_in(world.tdb)  # nothing happened without the person's say
    done = browser.post("/logout", {**form_with(asked.text, "decision").fields,
                                    "decision": "logout"})
    assert done.status_code == 200 and "Location" not in done.headers
    assert LOGGED_OUT in page_text(done)
    assert not browser.signed_in(world.tdb)


def _forged(tokens: dict[str, Any], world: World, foreign: dict[str, Any]) -> dict[str, str]:
    claims = unverified(tokens["id_token"])
    header = pyjwt.get_unverified_header(tokens["id_token"])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    head, _body, signature = tokens["id_token"].split(".")
    tampered_body = pyjwt.utils.base64url_encode(
        json.dumps({**claims, "sub": "000000"}).encode()).decode()
    return {
        "other-key": pyjwt.encode(claims, other_key, algorithm="RS256",
                                  headers={"kid": header["kid"]}),
        "tampered": f"{head}.{tampered_body}.{signature}",
        "alg-none": pyjwt.encode(claims, None, algorithm="none"),
        "other-issuer": pyjwt.encode({**claims, "iss": "https://evil.example"}, other_key,
                                     algorithm="RS256"),
        "access-token": tokens["access_token"],
        "foreign": foreign["id_token"],  # ours, but issued to another application
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("kind", ["other-key", "tampered", "alg-none", "other-issuer",
                                  "access-token", "foreign", "garbage"])
def test_a_forged_or_foreign_hint_is_never_redirected_to_and_asks_first(
        op: Provider, kind: str) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)
    foreign = browser.sign_in(world.regional)
    hint = _forged(tokens, world, foreign)[kind]

    asked = browser.get("/logout", id_token_hint=hint, client_id=world.tdb.client_id,
                        post_logout_redirect_uri=world.tdb.post_logout_uri or "", state="s")

    assert asked.status_code == 200 and "Location" not in asked.headers
    text = page_text(asked)
    assert CONFIRM in text and "n'a pas pu être vérifiée" in text
    assert "Tableau de bord ESMS" not in text  # an unverified request names no application
    assert browser.signed_in(world.tdb)
    assert userinfo(op, tokens["access_token"]).status_code == 200
    done = browser.post("/logout", {**form_with(asked.text, "decision").fields,
                                    "decision": "logout"})
    assert done.status_code == 200 and "Location" not in done.headers
    assert LOGGED_OUT in page_text(done)


def test_without_a_hint_the_person_confirms_with_the_form_and_nothing_else(
        op: Provider) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)

    asked = browser.get("/logout")
    assert asked.status_code == 200 and CONFIRM in page_text(asked)
    assert 'value="logout"' in asked.text and "Se déconnecter" in asked.text
    assert "Annuler" in asked.text
    assert browser.signed_in(world.tdb)

    # A forged POST (another site's form): no CSRF token, no logout.
    forged = browser.post("/logout", {"decision": "logout"})
    assert forged.status_code == 400
    wrong = browser.post("/logout", {"decision": "logout", "csrf_token": "x" * 40})
    assert wrong.status_code == 400
    assert browser.signed_in(world.tdb)
    assert userinfo(op, tokens["access_token"]).status_code == 200

    done = browser.post("/logout", {"csrf_token": csrf_token(asked.text), "decision": "logout"})
    assert done.status_code == 200 and LOGGED_OUT in page_text(done)
    assert not browser.signed_in(world.tdb)
    assert userinfo(op, tokens["access_token"]).status_code == 401


def test_cancelling_keeps_the_person_signed_in(op: Provider) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    browser.sign_in(world.tdb)
    asked = browser.get("/logout")

    answer = browser.post("/logout", {"csrf_token": csrf_token(asked.text),
                                      "decision": "cancel"})

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/compte/")
    assert "Vous êtes toujours connecté à PLAGE." in page_text(browser.get("/compte/"))
    assert browser.signed_in(world.tdb)


def test_a_hint_from_an_earlier_session_asks_then_returns_to_the_application(
        op: Provider) -> None:
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    old = browser.sign_in(world.tdb)
    browser.get("/logout", id_token_hint=old["id_token"])
    browser.login(world.identifier)  # a new session, with a new sid
    browser.sign_in(world.tdb)

    asked = browser.get("/logout", id_token_hint=old["id_token"], state="s1",
                        post_logout_redirect_uri=world.tdb.post_logout_uri or "")
    assert asked.status_code == 200 and CONFIRM in page_text(asked)
    assert "L'application Tableau de bord ESMS demande votre déconnexion." in page_text(asked)

    done = browser.post("/logout", {**form_with(asked.text, "decision").fields,
                                    "decision": "logout"})
    assert done.status_code == 303
    assert location_params(done) == (world.tdb.post_logout_uri, {"state": "s1"})
    assert not browser.signed_in(world.tdb)


def test_with_no_session_left_a_valid_hint_still_ends_the_session_it_names(
        serve: Serve, sqlite_url: str, receiver: Callable[..., tuple[Receiver, str]]) -> None:
    op = serve(sqlite_url, oidc={"session_idle_timeout": 2})
    rec, base = receiver()
    world = build_world(op, base)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)
    regional = browser.sign_in(world.regional)
    time.sleep(2.2)  # the provider session ended (idle) while the applications' lived on

    answer = browser.get("/logout", id_token_hint=tdb["id_token"], state="s",
                         post_logout_redirect_uri=world.tdb.post_logout_uri or "")

    assert answer.status_code == 303
    assert userinfo(op, regional["access_token"]).status_code == 401
    assert {unverified(t)["aud"] for t in rec.wait_for(2)} == {world.tdb.client_id,
                                                              world.regional.client_id}
    # Replayed, the request notifies nobody a second time.
    again = browser.get("/logout", id_token_hint=tdb["id_token"])
    assert again.status_code == 200 and LOGGED_OUT in page_text(again)
    assert outbox.wait_idle(10)
    assert len(deliveries(op)) == 2 and len(events(op, "logout")) == 1


# --- back-channel logout --------------------------------------------------------------


def test_each_application_of_the_session_receives_a_signed_logout_token(
        op: Provider, receiver: Callable[..., tuple[Receiver, str]]) -> None:
    rec, base = receiver()
    world = build_world(op, base)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)
    regional = browser.sign_in(world.regional)
    browser.sign_in(world.stats)  # no back-channel URI: nothing to send

    answer = browser.get("/logout", id_token_hint=tdb["id_token"],
                         post_logout_redirect_uri=world.tdb.post_logout_uri or "")
    assert answer.status_code == 303

    tokens = rec.wait_for(2)
    assert len(tokens) == 2
    assert all(ct.startswith("application/x-www-form-urlencoded") for ct in rec.content_types)
    by_client = {unverified(t)["aud"]: t for t in tokens}
    assert set(by_client) == {world.tdb.client_id, world.regional.client_id}
    id_claims = unverified(tdb["id_token"])
    for party, id_token in ((world.tdb, tdb["id_token"]), (world.regional, regional["id_token"])):
        claims = verified_logout_token(op, by_client[party.client_id], party.client_id)
        assert claims["sid"] == unverified(id_token)["sid"] == id_claims["sid"]
        assert claims["sub"] == world.identifier
    assert len({unverified(t)["jti"] for t in tokens}) == 2
    assert outbox.wait_idle(10)
    rows = deliveries(op)
    assert [(r.attempts, r.delivered_at is not None, r.last_error) for r in rows] == [
        (1, True, None), (1, True, None)]
    assert [r.payload for r in rows] == [None, None]  # the record stays, not the session


def test_a_failing_application_gets_its_logout_token_after_retries(
        op: Provider, receiver: Callable[..., tuple[Receiver, str]]) -> None:
    rec, base = receiver(failures=2)
    world = build_world(op, base)
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)

    browser.get("/logout", id_token_hint=tokens["id_token"])
    assert outbox.wait_idle(10) and rec.calls == 1  # the first attempt, in the background
    [waiting] = deliveries(op)
    assert waiting.last_error == "HTTP 503" and waiting.next_attempt_at is not None
    # The cron's next runs, each at the time the retry is due.
    for _ in range(2):
        [due] = deliveries(op)
        op.run(partial(delivery.deliver_due, now=due.next_attempt_at))

    [token] = rec.wait_for(1)
    assert rec.calls == 3
    verified_logout_token(op, token, world.tdb.client_id)
    [row] = deliveries(op)
    assert row.attempts == 3 and row.delivered_at is not None and row.last_error is None


def test_an_application_that_does_not_answer_never_holds_up_the_logout(
        serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url, oidc={"backchannel_logout_timeout": 3},
               outbox={"backchannel_give_up_after_attempts": 1})
    silent = SilentServer()
    try:
        world = build_world(op, silent.url.rsplit("/", 1)[0])
        browser = Browser(op)
        browser.login(world.identifier)
        tokens = browser.sign_in(world.tdb)

        started = time.monotonic()
        answer = browser.get("/logout", id_token_hint=tokens["id_token"],
                             post_logout_redirect_uri=world.tdb.post_logout_uri or "")
        elapsed = time.monotonic() - started

        assert answer.status_code == 303 and elapsed < 1.5, elapsed
        assert not browser.signed_in(world.tdb)
        assert outbox.wait_idle(10)
        [row] = deliveries(op)
        assert row.delivered_at is None and row.attempts == 1
        assert row.last_error and "Timeout" in row.last_error
        assert row.abandoned_at is not None and row.payload is None
        [abandoned] = events(op, "outbox.abandoned")
        assert abandoned["channel"] == "backchannel"
        assert abandoned["recipient"] == world.tdb.client_id
    finally:
        silent.close()


def test_an_unreachable_application_is_retried_later_and_the_page_still_shows(
        serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url, outbox={"backchannel_first_retry": 3600})
    closed = SilentServer()
    closed.close()  # nothing listens there any more: connection refused
    world = build_world(op, closed.url.rsplit("/", 1)[0])
    browser = Browser(op)
    browser.login(world.identifier)
    tokens = browser.sign_in(world.tdb)

    answer = browser.get("/logout", id_token_hint=tokens["id_token"])

    assert answer.status_code == 200 and LOGGED_OUT in page_text(answer)
    deadline = time.monotonic() + 10
    while not (rows := deliveries(op))[0].last_error and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = rows
    assert row.attempts == 1 and row.delivered_at is None
    assert "ConnectionError" in (row.last_error or "")
    assert row.next_attempt_at > utcnow() + timedelta(minutes=59)  # waits for the cron


# --- the `idp outbox` commands --------------------------------------------------------


def _queue_for(op: Provider, world: World, sid: str, **row: Any) -> int:
    """A logout token queued by an earlier process, which never sent it."""

    def work() -> int:
        backchannel.queue([world.tdb.client_id], sid, world.identifier)
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
        op: Provider, receiver: Callable[..., tuple[Receiver, str]]) -> None:
    rec, base = receiver()
    world = build_world(op, base)
    due = _queue_for(op, world, "sid-due")
    later = _queue_for(op, world, "sid-later", next_attempt_at=utcnow() + timedelta(hours=1))
    given_up = _queue_for(op, world, "sid-given-up", attempts=12, abandoned_at=utcnow(),
                          next_attempt_at=None, payload=None)

    result = outbox_command(op, "deliver", "--channel", "backchannel", "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {"channels": {"backchannel": {
        "delivered": 1, "retry_later": 0, "abandoned": 0, "left": 0, "pending": 1}},
        "failures": []}
    [token] = rec.tokens
    assert verified_logout_token(op, token, world.tdb.client_id)["sid"] == "sid-due"
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
    world = build_world(op, closed.url.rsplit("/", 1)[0])
    row_id = _queue_for(op, world, "sid-1")

    result = outbox_command(op, "deliver")

    assert result.exit_code == 0, result.output
    assert "backchannel: 0 delivered, 1 to retry later, 0 abandoned" in result.output
    assert f"#{row_id} backchannel {world.tdb.client_id}: ConnectionError" in result.output


def test_a_logout_token_queued_long_ago_is_signed_when_it_is_sent(
        op: Provider, receiver: Callable[..., tuple[Receiver, str]]) -> None:
    rec, base = receiver()
    world = build_world(op, base)
    an_hour_ago = utcnow() - timedelta(hours=1)
    row_id = _queue_for(op, world, "sid-old", created_at=an_hour_ago,
                        next_attempt_at=an_hour_ago)
    queued = op.run(lambda: db.session.get(OutboxItem, row_id).payload)

    outbox_command(op, "deliver")

    [token] = rec.tokens
    claims = verified_logout_token(op, token, world.tdb.client_id)  # exp checked by PyJWT
    assert claims["jti"] == queued["jti"] and claims["sid"] == "sid-old"
    assert time.time() - claims["iat"] < 60


def test_two_processes_never_send_the_same_delivery_twice(
        serve: Serve, database_url: str,
        receiver: Callable[..., tuple[Receiver, str]]) -> None:
    op = serve(database_url)
    rec, base = receiver(delay=0.5)
    world = build_world(op, base)
    row_id = _queue_for(op, world, "sid-race")
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
        op: Provider, receiver: Callable[..., tuple[Receiver, str]]) -> None:
    rec, base = receiver()
    world = build_world(op, base, first_party=False)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb, scope="openid profile habilitations offline_access")
    regional = browser.sign_in(world.regional)

    home = browser.get("/compte/")
    assert 'href="/compte/applications"' in home.text and "Mes applications" in home.text
    page = browser.get("/compte/applications")
    assert page.status_code == 200
    text = page_text(page)
    assert "Tableau de bord ESMS" in text and "Portail ARS" in text
    assert "Vos nom, prénom et identifiant Plage" in text
    assert ("L'accès à ces informations lorsque vous n'êtes pas connecté, pendant 90 jours "
            "au plus ou jusqu'à ce que vous retiriez votre accord") in text
    assert utcnow().strftime("%d/%m/%Y") in text
    assert "Retirer mon accord à Tableau de bord ESMS" in text  # the button's full name

    # Without the CSRF token, nothing happens.
    refused = browser.post(f"/compte/applications/{world.tdb.client_id}/retirer", {})
    assert refused.status_code == 400
    assert userinfo(op, tdb["access_token"]).status_code == 200

    answer = browser.post(f"/compte/applications/{world.tdb.client_id}/retirer",
                          {"csrf_token": csrf_token(page.text)})
    assert answer.status_code == 302
    after = page_text(browser.get(answer.headers["Location"]))
    assert ("Votre accord a été retiré : Tableau de bord ESMS n'a plus accès à vos "
            "informations.") in after
    assert "Retirer mon accord à Tableau de bord ESMS" not in after
    assert "Retirer mon accord à Portail ARS" in after

    # Its tokens stop working, the offline ones included; the other application keeps its.
    assert userinfo(op, tdb["access_token"]).status_code == 401
    assert world.tdb.refresh(op, tdb["refresh_token"]).status_code == 400
    assert userinfo(op, regional["access_token"]).status_code == 200
    [token] = rec.wait_for(1)
    claims = verified_logout_token(op, token, world.tdb.client_id)
    assert claims["sid"] == unverified(tdb["id_token"])["sid"]
    assert op.run(lambda: [c.client_id for c in db.session.scalars(select(Consent))]) == [
        world.regional.client_id]
    [withdrawn] = events(op, "consent.withdraw")
    assert withdrawn["client"] == world.tdb.client_id
    reasons = op.run(lambda: {g.client_id: g.revoked_reason
                              for g in db.session.scalars(select(Grant))})
    assert reasons == {world.tdb.client_id: "consent_withdrawn", world.regional.client_id: None}
    # The application must ask again.
    assert browser.authorize(world.tdb, prompt="none")["error"] == "consent_required"
    # Withdrawing twice says there is nothing to withdraw.
    again = browser.post(f"/compte/applications/{world.tdb.client_id}/retirer",
                         {"csrf_token": csrf_token(page.text)})
    assert ("Aucun accord n'est enregistré pour cette application."
            in page_text(browser.get(again.headers["Location"])))


def test_mes_applications_needs_a_signed_in_person(op: Provider) -> None:
    answer = Browser(op).get("/compte/applications")
    assert answer.status_code == 302 and "/connexion" in answer.headers["Location"]
