"""Sessions and grants end when they should: a password reset or change signs the person
out of her other browsers and revokes the grants made there; refresh tokens without
offline_access end with the provider session (expired, idle), every refresh family
with its absolute lifetime; the session id changes at a profile switch; an ID token
that leaked signs nobody out, and a signed userinfo response is no ID token hint.

The provider is served over HTTP and driven as browsers and applications do
(tests/support/oidc.py); the session indexes run on the embedded store and on Redis, where
time passes by the SQL store's clock or, for Redis, by waiting for its own timer.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.clients.models import Client
from idp.config import ConfigError, load_settings
from idp.directory import services
from idp.extensions import db
from idp.outbox import service as outbox
from tests.support.clock import time_passer
from tests.support.html import csrf_token
from tests.support.oidc import (
    Applications,
    Browser,
    Provider,
    RelyingParty,
    Serve,
    Tokens,
    audit_events,
    claims_of,
    tdbesms_applications,
)
from tests.support.receivers import Receivers
from tests.support.services import SmtpSink, body_of

NEW_PASSWORD = "Nouveau-secret-2027!"
RESET = "/compte/mot-de-passe-oublie/nouveau"
OFFLINE = "openid profile offline_access"
CODE = re.compile(r"/compte/mot-de-passe-oublie/nouveau#([A-Za-z0-9_-]+)")


@pytest.fixture(params=["embedded", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The short-lived store's URL: "" for the embedded one (SQL), or Redis."""
    return request.getfixturevalue("redis_url") if request.param == "redis" else ""


def signed_in_twice(op: Provider, apps: Applications
                    ) -> tuple[Browser, Browser, Tokens, Tokens, Tokens]:
    """Élodie at the office (tdb, plus stats with offline_access) and at home (tdb)."""
    office, home = Browser(op), Browser(op)
    office.sign_in(apps.identifier)
    home.sign_in(apps.identifier)
    return (office, home, apps.tdb.login(office), apps.stats.login(office, scope=OFFLINE),
            apps.tdb.login(home))


def refreshes(rp: RelyingParty, tokens: Tokens) -> bool:
    """Refresh (rotating `tokens` in place); whether the provider accepted."""
    answer = rp.refresh_request(tokens.refresh_token)
    if answer.status_code != 200:
        assert answer.json()["error"] == "invalid_grant", answer.text
        return False
    tokens.raw.update(answer.json())
    return True


def stale_cookies_signed_out(op: Provider, cookies: dict[str, str]) -> bool:
    """Whether a browser holding only these (old) cookies is sent to the login page."""
    stale = Browser(op)
    stale.http.cookies.update(cookies)
    answer = stale.get("/compte/")
    return answer.status == 302 and "/connexion" in answer.headers["Location"]


# --- a password reset or change -------------------------------------------------------


def reset_by_mail(op: Provider, sink: SmtpSink, identifier: str, email: str) -> None:
    """« Mot de passe oublié ? » from a third browser, to the end."""
    browser = Browser(op)
    form = browser.get("/compte/mot-de-passe-oublie")
    browser.post("/compte/mot-de-passe-oublie", {"csrf_token": csrf_token(form.html),
                                                "identifier": identifier, "email": email})
    assert outbox.wait_idle(10)
    match = CODE.search(body_of(sink.received()[-1]))
    assert match
    page = browser.get(RESET)
    chosen = browser.post(RESET, {"csrf_token": csrf_token(page.html), "code": match.group(1)})
    new_password = chosen.forms[chosen.form_with("password")]
    done = browser.post(RESET, {**new_password.fields, "password": NEW_PASSWORD,
                                "confirm": NEW_PASSWORD})
    assert done.status == 302 and done.headers["Location"] == "/connexion", done.html


def test_a_password_reset_ends_every_session_and_the_grants_made_there(
        serve: Serve, sqlite_url: str, store_url: str, smtp_sink: SmtpSink,
        receiver: Receivers) -> None:
    op = serve(sqlite_url, store_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                            "smtp_port": smtp_sink.port})
    rec, base = receiver()
    apps = tdbesms_applications(op, base)
    office, home, tdb, stats, tdb_home = signed_in_twice(op, apps)
    email = op.run(lambda: services.get_account(apps.identifier).email)

    reset_by_mail(op, smtp_sink, apps.identifier, email)

    assert not office.signed_in(apps.tdb) and not home.signed_in(apps.tdb)
    assert apps.tdb.userinfo(tdb.access_token).status_code == 401
    assert not refreshes(apps.tdb, tdb) and not refreshes(apps.tdb, tdb_home)
    assert refreshes(apps.stats, stats)  # offline_access: made to outlive sessions
    # tdb is told, once per session, that each session ended.
    told = {apps.tdb.verify_logout_token(t)["sid"] for t in rec.wait_for(2)}
    assert told == {tdb.id_claims["sid"], tdb_home.id_claims["sid"]}
    assert {e["reason"] for e in audit_events(op, "logout")} == {"password_reset"}


def test_a_password_change_keeps_this_browser_under_a_new_id_and_ends_the_others(
        serve: Serve, sqlite_url: str, store_url: str) -> None:
    op = serve(sqlite_url, store_url)
    apps = tdbesms_applications(op)
    office, home, tdb, _stats, tdb_home = signed_in_twice(op, apps)
    old_cookie = dict(office.http.cookies)

    page = office.get("/compte/mot-de-passe")
    assert page.status == 200 and "Modifier mon mot de passe" in page.visible_text
    wrong = office.post("/compte/mot-de-passe", {
        "csrf_token": csrf_token(page.html), "current": "pas-le-bon",
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status == 400
    assert "Le mot de passe actuel saisi est incorrect." in wrong.visible_text
    done = office.post("/compte/mot-de-passe", {
        "csrf_token": csrf_token(page.html), "current": "Mot-de-passe-2026!",
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status == 302
    assert ("Vos sessions ouvertes sur d'autres navigateurs ont été fermées."
            in office.get("/compte/").visible_text)

    assert office.signed_in(apps.tdb) and refreshes(apps.tdb, tdb)
    assert not home.signed_in(apps.tdb) and not refreshes(apps.tdb, tdb_home)
    assert dict(office.http.cookies) != old_cookie
    assert stale_cookies_signed_out(op, old_cookie)


# --- lifetimes ------------------------------------------------------------------------


def test_refresh_tokens_end_with_an_idle_provider_session(serve: Serve, sqlite_url: str,
                                                         store_url: str) -> None:
    op = serve(sqlite_url, store_url, oidc={"session_idle_timeout": 2})
    pass_time = time_passer(op.app)  # the embedded store's clock, or Redis's own timer
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)
    stats = apps.stats.login(browser, scope=OFFLINE)

    # The application at work: each refresh counts as activity of the session.
    for _ in range(3):
        pass_time(1.2)
        assert refreshes(apps.tdb, tdb)
    assert browser.signed_in(apps.tdb)
    pass_time(2.3)  # nobody used the session: it ended

    assert not browser.signed_in(apps.tdb)
    assert not refreshes(apps.tdb, tdb)
    assert apps.tdb.userinfo(tdb.access_token).status_code == 401  # its grant is revoked
    assert refreshes(apps.stats, stats)


def test_the_session_ends_at_its_lifetime_from_the_login_whatever_its_activity(
        serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url, oidc={"session_ttl": 4, "session_idle_timeout": 4})
    apps = tdbesms_applications(op)
    browser = Browser(op)
    # The login happens between these two instants: its deadline, 4 s later, is after
    # before + 4 and before after + 4, however slow the machine is to sign in.
    before = time.monotonic()
    browser.sign_in(apps.identifier)
    after = time.monotonic()
    tdb = apps.tdb.login(browser)

    # Real time: the session's deadline is read from the wall clock (idp/web/session.py
    # takes no clock), and the activity must be spread over the session's life; the last
    # check starts 1.5 s before the earliest deadline, a margin for a loaded machine.
    while time.monotonic() - before < 2.5:  # busy, with a new code now and then
        assert browser.signed_in(apps.tdb)
        time.sleep(0.5)
    time.sleep(max(0.0, 4.3 - (time.monotonic() - after)))

    assert not browser.signed_in(apps.tdb)
    assert not refreshes(apps.tdb, tdb)


def test_a_refresh_family_ends_at_its_absolute_lifetime(serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url, oidc={"refresh_family_max_age": 2})
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)
    stats = apps.stats.login(browser, scope=OFFLINE)

    assert refreshes(apps.tdb, tdb) and refreshes(apps.stats, stats)
    time.sleep(2.2)  # real time: a family's end is a date in the database, read from the
    # wall clock (idp/oidc/grants_store.py takes no clock)

    assert browser.signed_in(apps.tdb)  # the session lives on...
    assert not refreshes(apps.tdb, tdb)  # ...its families do not, offline ones neither
    assert not refreshes(apps.stats, stats)


def test_idle_and_family_lifetimes_are_checked_at_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the instance folder a bare load creates
    with pytest.raises(ConfigError, match="session_idle_timeout must be at most"):
        load_settings(overrides={"oidc": {"session_ttl": 600, "session_idle_timeout": 601}},
                      environ={})
    with pytest.raises(ConfigError, match=r"^oidc\.refresh_family_max_age must be positive$"):
        load_settings(environ={"IDP_OIDC__REFRESH_FAMILY_MAX_AGE": "0"})


# --- the session id -------------------------------------------------------------------


def test_the_session_id_changes_at_a_profile_switch(serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url)
    apps = tdbesms_applications(op)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    before = dict(browser.http.cookies)
    page = browser.get("/compte/")
    profile = re.findall(r'<option value="(\d+)"', page.html)[-1]

    switched = browser.post("/compte/profil-actif", {"csrf_token": csrf_token(page.html),
                                                     "profile": profile})

    assert switched.status == 302
    assert dict(browser.http.cookies) != before
    assert browser.get("/compte/").status == 200
    assert stale_cookies_signed_out(op, before)


# --- id_token_hint --------------------------------------------------------------------


def test_a_leaked_id_token_signs_nobody_out_from_another_browser(
        serve: Serve, sqlite_url: str, receiver: Receivers) -> None:
    op = serve(sqlite_url)
    rec, base = receiver()
    apps = tdbesms_applications(op, base)
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)

    stranger = Browser(op)  # no session of its own
    answer = stranger.end_session(id_token_hint=tdb.id_token,
                                  post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")

    assert answer.status == 303  # a verified request: back to the application
    assert browser.signed_in(apps.tdb)
    assert apps.tdb.userinfo(tdb.access_token).status_code == 200
    assert refreshes(apps.tdb, tdb)
    assert audit_events(op, "logout") == []
    assert outbox.wait_idle(10) and rec.tokens == []


def test_a_signed_userinfo_response_is_no_id_token_hint(serve: Serve, sqlite_url: str) -> None:
    op = serve(sqlite_url)
    apps = tdbesms_applications(op)
    op.run(lambda: _sign_userinfo(apps.tdb.client_id))
    browser = Browser(op)
    browser.sign_in(apps.identifier)
    tdb = apps.tdb.login(browser)
    signed = apps.tdb.userinfo(tdb.access_token)
    assert signed.headers["Content-Type"].startswith("application/jwt")
    assert claims_of(signed.text)["aud"] == apps.tdb.client_id

    asked = browser.end_session(id_token_hint=signed.text,
                                post_logout_redirect_uri=apps.tdb.post_logout_redirect_uri or "")
    authorize = apps.tdb.ask(browser, id_token_hint=signed.text)

    assert asked.status == 200 and "n'a pas pu être vérifiée" in asked.visible_text
    assert browser.signed_in(apps.tdb)
    assert authorize["error"] == "invalid_request"


def _sign_userinfo(client_id: str) -> None:
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    assert client is not None
    client.userinfo_signed_response_alg = "RS256"
    db.session.commit()
