"""Sessions and grants end when they should: a password reset or change signs the person
out of her other browsers and revokes the grants made there; refresh tokens without
offline_access end with the provider session (expired, idle), every refresh family
with its absolute lifetime; the session id changes at a profile switch; an ID token
that leaked signs nobody out, and a signed userinfo response is no ID token hint.

The provider is served over HTTP and driven as browsers and applications do (the
logout tests' harness); the session indexes run on the embedded store and on Redis.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from idp.clients.models import Client
from idp.config import ConfigError, load_settings
from idp.directory import services
from idp.extensions import db
from idp.outbox import service as outbox
from tests.support.html import csrf_token, form_with
from tests.support.logout import (
    Browser,
    Provider,
    Receiver,
    RelyingParty,
    page_text,
    userinfo,
)
from tests.support.services import SmtpSink, body_of
from tests.test_logout import World, build_world, events, unverified, verified_logout_token

NEW_PASSWORD = "Nouveau-secret-2027!"
RESET = "/compte/mot-de-passe-oublie/nouveau"
OFFLINE = "openid profile offline_access"
CODE = re.compile(r"/compte/mot-de-passe-oublie/nouveau#([A-Za-z0-9_-]+)")

Serve = Callable[..., Provider]


@pytest.fixture
def serve(make_app: Callable[..., Any], live_server: Callable[[Any], str],
          sqlite_url: str) -> Iterator[Serve]:
    """Serve a provider on SQLite (the store named by `redis_url`, else the embedded one),
    with settings sections as keywords."""

    def start(redis_url: str = "", **sections: dict[str, Any]) -> Provider:
        app = make_app(sqlite_url, redis_url, **sections)
        return Provider(app, live_server(app))

    yield start
    assert outbox.wait_idle(20), "back-channel deliveries still running"


@pytest.fixture(params=["embedded", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The short-lived store's URL: "" for the embedded one (SQL), or Redis."""
    return request.getfixturevalue("redis_url") if request.param == "redis" else ""


@pytest.fixture
def receiver(live_server: Callable[[Any], str]) -> tuple[Receiver, str]:
    rec = Receiver()
    return rec, live_server(rec.app)


def signed_in_twice(op: Provider, world: World) -> tuple[Browser, Browser, dict[str, Any],
                                                           dict[str, Any], dict[str, Any]]:
    """Élodie at the office (tdb, plus stats with offline_access) and at home (tdb)."""
    office, home = Browser(op), Browser(op)
    office.login(world.identifier)
    home.login(world.identifier)
    return (office, home, office.sign_in(world.tdb),
            office.sign_in(world.stats, scope=OFFLINE), home.sign_in(world.tdb))


def refreshes(rp: RelyingParty, op: Provider, tokens: dict[str, Any]) -> bool:
    """Refresh (rotating `tokens` in place); whether the provider accepted."""
    answer = rp.refresh(op, tokens["refresh_token"])
    if answer.status_code != 200:
        assert answer.json()["error"] == "invalid_grant", answer.text
        return False
    tokens.update(answer.json())
    return True


# --- a password reset or change -------------------------------------------------------


def reset_by_mail(op: Provider, sink: SmtpSink, identifier: str, email: str) -> None:
    """« Mot de passe oublié ? » from a third browser, to the end."""
    browser = Browser(op)
    form = browser.get("/compte/mot-de-passe-oublie")
    browser.post("/compte/mot-de-passe-oublie", {"csrf_token": csrf_token(form.text),
                                                "identifier": identifier, "email": email})
    assert outbox.wait_idle(10)
    match = CODE.search(body_of(sink.received()[-1]))
    assert match
    page = browser.get(RESET)
    chosen = browser.post(RESET, {"csrf_token": csrf_token(page.text), "code": match.group(1)})
    new_password = form_with(chosen.text, "password")
    done = browser.post(RESET, {**new_password.fields, "password": NEW_PASSWORD,
                                "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/connexion", done.text


def test_a_password_reset_ends_every_session_and_the_grants_made_there(
        serve: Serve, store_url: str, smtp_sink: SmtpSink,
        receiver: tuple[Receiver, str]) -> None:
    op = serve(store_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                "smtp_port": smtp_sink.port})
    rec, base = receiver
    world = build_world(op, base)
    office, home, tdb, stats, tdb_home = signed_in_twice(op, world)
    email = op.run(lambda: services.get_account(world.identifier).email)

    reset_by_mail(op, smtp_sink, world.identifier, email)

    assert not office.signed_in(world.tdb) and not home.signed_in(world.tdb)
    assert userinfo(op, tdb["access_token"]).status_code == 401
    assert not refreshes(world.tdb, op, tdb) and not refreshes(world.tdb, op, tdb_home)
    assert refreshes(world.stats, op, stats)  # offline_access: made to outlive sessions
    # tdb is told, once per session, that each session ended.
    told = {verified_logout_token(op, t, world.tdb.client_id)["sid"] for t in rec.wait_for(2)}
    assert told == {unverified(tdb["id_token"])["sid"], unverified(tdb_home["id_token"])["sid"]}
    assert {e["reason"] for e in events(op, "logout")} == {"password_reset"}


def test_a_password_change_keeps_this_browser_under_a_new_id_and_ends_the_others(
        serve: Serve, store_url: str) -> None:
    op = serve(store_url)
    world = build_world(op)
    office, home, tdb, _stats, tdb_home = signed_in_twice(op, world)
    old_cookie = dict(office.http.cookies)

    page = office.get("/compte/mot-de-passe")
    assert page.status_code == 200 and "Modifier mon mot de passe" in page_text(page)
    wrong = office.post("/compte/mot-de-passe", {
        "csrf_token": csrf_token(page.text), "current": "pas-le-bon",
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 400
    assert "Le mot de passe actuel saisi est incorrect." in page_text(wrong)
    done = office.post("/compte/mot-de-passe", {
        "csrf_token": csrf_token(page.text), "current": "Mot-de-passe-2026!",
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert "Vos sessions ouvertes sur d'autres navigateurs ont été fermées." in page_text(
        office.get("/compte/"))

    assert office.signed_in(world.tdb) and refreshes(world.tdb, op, tdb)
    assert not home.signed_in(world.tdb) and not refreshes(world.tdb, op, tdb_home)
    assert dict(office.http.cookies) != old_cookie
    stale = requests.get(op.base + "/compte/", cookies=old_cookie, allow_redirects=False,
                         timeout=10)
    assert stale.status_code == 302 and "/connexion" in stale.headers["Location"]


# --- lifetimes ------------------------------------------------------------------------


def test_refresh_tokens_end_with_an_idle_provider_session(serve: Serve,
                                                         store_url: str) -> None:
    op = serve(store_url, oidc={"session_idle_timeout": 2})
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)
    stats = browser.sign_in(world.stats, scope=OFFLINE)

    # The application at work: each refresh counts as activity of the session.
    for _ in range(3):
        time.sleep(1.2)
        assert refreshes(world.tdb, op, tdb)
    assert browser.signed_in(world.tdb)
    time.sleep(2.3)  # nobody used the session: it ended

    assert not browser.signed_in(world.tdb)
    assert not refreshes(world.tdb, op, tdb)
    assert userinfo(op, tdb["access_token"]).status_code == 401  # its grant is revoked
    assert refreshes(world.stats, op, stats)


def test_the_session_ends_at_its_lifetime_from_the_login_whatever_its_activity(
        serve: Serve) -> None:
    op = serve(oidc={"session_ttl": 3, "session_idle_timeout": 3})
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    signed_in_at = time.monotonic()
    tdb = browser.sign_in(world.tdb)

    while time.monotonic() - signed_in_at < 2.5:  # busy, with a new code now and then
        assert browser.signed_in(world.tdb)
        time.sleep(0.5)
    time.sleep(max(0.0, 3.3 - (time.monotonic() - signed_in_at)))

    assert not browser.signed_in(world.tdb)
    assert not refreshes(world.tdb, op, tdb)


def test_a_refresh_family_ends_at_its_absolute_lifetime(serve: Serve) -> None:
    op = serve(oidc={"refresh_family_max_age": 2})
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)
    stats = browser.sign_in(world.stats, scope=OFFLINE)

    assert refreshes(world.tdb, op, tdb) and refreshes(world.stats, op, stats)
    time.sleep(2.2)

    assert browser.signed_in(world.tdb)  # the session lives on...
    assert not refreshes(world.tdb, op, tdb)  # ...its families do not, offline ones neither
    assert not refreshes(world.stats, op, stats)


def test_idle_and_family_lifetimes_are_checked_at_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the instance folder a bare load creates
    with pytest.raises(ConfigError, match="session_idle_timeout must be at most"):
        load_settings(overrides={"oidc": {"session_ttl": 600, "session_idle_timeout": 601}},
                      environ={})
    with pytest.raises(ConfigError, match=r"^oidc\.refresh_family_max_age must be positive$"):
        load_settings(environ={"IDP_OIDC__REFRESH_FAMILY_MAX_AGE": "0"})


# --- the session id -------------------------------------------------------------------


def test_the_session_id_changes_at_a_profile_switch(serve: Serve) -> None:
    op = serve()
    world = build_world(op)
    browser = Browser(op)
    browser.login(world.identifier)
    before = dict(browser.http.cookies)
    page = browser.get("/compte/")
    profile = re.findall(r'<option value="(\d+)"', page.text)[-1]

    switched = browser.post("/compte/profil-actif", {"csrf_token": csrf_token(page.text),
                                                     "profile": profile})

    assert switched.status_code == 302
    assert dict(browser.http.cookies) != before
    assert browser.get("/compte/").status_code == 200
    stale = requests.get(op.base + "/compte/", cookies=before, allow_redirects=False,
                         timeout=10)
    assert stale.status_code == 302 and "/connexion" in stale.headers["Location"]


# --- id_token_hint --------------------------------------------------------------------


def test_a_leaked_id_token_signs_nobody_out_from_another_browser(
        serve: Serve, receiver: tuple[Receiver, str]) -> None:
    op = serve()
    rec, base = receiver
    world = build_world(op, base)
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)

    stranger = Browser(op)  # no session of its own
    answer = stranger.get("/logout", id_token_hint=tdb["id_token"],
                          post_logout_redirect_uri=world.tdb.post_logout_uri or "")

    assert answer.status_code == 303  # a verified request: back to the application
    assert browser.signed_in(world.tdb)
    assert userinfo(op, tdb["access_token"]).status_code == 200
    assert refreshes(world.tdb, op, tdb)
    assert events(op, "logout") == []
    assert outbox.wait_idle(10) and rec.tokens == []


def test_a_signed_userinfo_response_is_no_id_token_hint(serve: Serve) -> None:
    op = serve()
    world = build_world(op)
    op.run(lambda: _sign_userinfo(world.tdb.client_id))
    browser = Browser(op)
    browser.login(world.identifier)
    tdb = browser.sign_in(world.tdb)
    signed = userinfo(op, tdb["access_token"])
    assert signed.headers["Content-Type"].startswith("application/jwt")
    assert unverified(signed.text)["aud"] == world.tdb.client_id

    asked = browser.get("/logout", id_token_hint=signed.text,
                        post_logout_redirect_uri=world.tdb.post_logout_uri or "")
    authorize = browser.authorize(world.tdb, id_token_hint=signed.text)

    assert asked.status_code == 200 and "n'a pas pu être vérifiée" in page_text(asked)
    assert browser.signed_in(world.tdb)
    assert authorize["error"] == "invalid_request"


def _sign_userinfo(client_id: str) -> None:
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    assert client is not None
    client.userinfo_signed_response_alg = "RS256"
    db.session.commit()
