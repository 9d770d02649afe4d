"""What an operator relies on: the probes of the load balancer, the metrics Prometheus
scrapes (and nobody else may), and one log line per request with its id and no secret.

The provider runs in this process here (metrics of one process; tests compare a scrape
with the one before, as counters are the process's); `test_several_hosts.py` runs it
under gunicorn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask

from idp import extensions
from idp.config import ConfigError, load_settings
from idp.core.clock import utcnow
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import service as outbox
from idp.outbox.delivery import deliver_due
from tests.support import directory as d
from tests.support.oidc import Browser, Page, Provider, ancre_people, register, serving
from tests.support.ops import Scrape, json_lines, request_lines
from tests.support.services import PostgresServer, RedisServer, SmtpSink, free_port
from tests.test_login_lockout import WRONG, attempt
from tests.test_second_factor import enrolled_person, password_then_code

METRICS_ON = {"metrics": {"enabled": True}}


# --- probes ---------------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, which it may stop."""
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_probes_answer_while_database_and_store_answer(sqlite_app: Flask) -> None:
    client = sqlite_app.test_client()
    live = client.get("/healthz")
    ready = client.get("/readyz")
    assert (live.status_code, live.json) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"database": "ok", "store": "ok"}}
    legacy = client.get("/health")  # what load balancers were first given: the same
    assert (legacy.status_code, legacy.json) == (200, ready.json)


def test_readiness_fails_with_a_short_answer_when_the_redis_server_stops(
        make_app: Callable[..., Flask], sqlite_url: str, own_redis: RedisServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    client = make_app(sqlite_url, own_redis.url).test_client()
    assert client.get("/readyz").status_code == 200
    own_redis.stop()
    capsys.readouterr()
    answer = client.get("/readyz", headers={"X-Request-Id": "probe-7"})
    assert answer.status_code == 503
    assert answer.json == {"status": "unavailable",
                           "checks": {"database": "ok", "store": "unavailable"}}
    assert "Traceback" not in answer.get_data(as_text=True)
    legacy = client.get("/health", headers={"X-Request-Id": "probe-8"})
    assert (legacy.status_code, legacy.json) == (503, answer.json)
    assert client.get("/healthz").status_code == 200  # alive, only not ready
    # Why, in the log: the warning and the request line carry the request's id.
    lines = [line for line in json_lines(capsys.readouterr().err)
             if line["request_id"] == "probe-7"]
    assert [line["logger"] for line in lines] == ["idp.ops.health", "idp.access"]
    assert "store unavailable" in lines[0]["message"] and lines[1]["status"] == 503


def test_readiness_fails_when_the_database_does_not_answer(
        make_app: Callable[..., Flask]) -> None:
    nothing_there = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/idp"
    answer = make_app(nothing_there).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == "unavailable"


@pytest.mark.parametrize("idle_check", [True, False], ids=["idle", "busy"])
def test_a_connection_postgresql_dropped_is_replaced(
        make_app: Callable[..., Flask], postgresql_url: str, pg_server: PostgresServer,
        monkeypatch: pytest.MonkeyPatch, idle_check: bool) -> None:
    """PostgreSQL restarts behind the pool's back. A connection that sat idle is checked
    before use and replaced: no request notices. One still counted as busy (reused
    within PING_AFTER_IDLE) fails one request with a 503, never a 500, and the pool
    then reconnects."""
    http = make_app(postgresql_url).test_client()
    assert http.get("/readyz").status_code == 200  # a connection now waits in the pool
    pg_server.halt()
    pg_server.resume()
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE", 0.0 if idle_check else 3600.0)
    if not idle_check:
        assert http.get("/readyz").status_code == 503
    assert http.get("/readyz").status_code == 200


# --- who may scrape -------------------------------------------------------------------


def test_metrics_are_off_unless_enabled(sqlite_app: Flask) -> None:
    assert sqlite_app.test_client().get("/metrics").status_code == 404


@pytest.mark.parametrize(("networks", "address", "status"), [
    (["127.0.0.1/32", "::1/128"], "127.0.0.1", 200),
    (["127.0.0.1/32", "::1/128"], "10.1.2.3", 404),
    (["10.0.0.0/8"], "10.1.2.3", 200),
    (["10.0.0.0/8"], "192.168.1.9", 404),
])
def test_metrics_answer_only_to_the_configured_networks(
        make_app: Callable[..., Flask], sqlite_url: str, networks: list[str], address: str,
        status: int) -> None:
    app = make_app(sqlite_url, metrics={"enabled": True, "allowed_networks": networks})
    answer = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == status
    if status == 200:
        assert answer.content_type.startswith("text/plain; version=0.0.4")
        assert "idp_logins_total" in answer.get_data(as_text=True)


def test_behind_the_load_balancer_the_forwarded_address_decides(
        make_app: Callable[..., Flask], sqlite_url: str) -> None:
    """The load balancer (127.0.0.1 here) is allowed; someone on the Internet whose
    request it forwards is not."""
    app = make_app(sqlite_url, server={"proxy_hops": 1}, **METRICS_ON)
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert forwarded.status_code == 404


def test_an_allowed_network_must_be_a_network() -> None:
    with pytest.raises(ConfigError, match="allowed_networks"):
        load_settings({"server": {"secret_key": "k"}, "keys": {"passphrase": "p"}},
                      environ={"IDP_METRICS__ALLOWED_NETWORKS": "10.0.0.0/8,intranet"})


# --- what is counted ------------------------------------------------------------------


@pytest.fixture
def op(make_app: Callable[..., Flask], sqlite_url: str) -> Iterator[Provider]:
    with serving(make_app) as serve:
        yield serve(sqlite_url, **METRICS_ON)


def test_a_login_a_refresh_and_a_stolen_refresh_token_are_counted(op: Provider) -> None:
    people = op.run(ancre_people)
    rp = register(op)
    before = Scrape.of(op.issuer)
    browser = Browser(op)
    page = browser.open(f"{op.issuer}/connexion")
    assert isinstance(page, Page)
    assert browser.login(page, people.person, WRONG).status == 401  # type: ignore[union-attr]
    tokens = rp.login(browser, people.person, profile=people.profile_x)
    rp.refresh(tokens.refresh_token or "")
    replayed = rp.token_request({"grant_type": "refresh_token",
                                 "refresh_token": tokens.refresh_token or ""})
    assert replayed.json()["error"] == "invalid_grant"

    moved = Scrape.of(op.issuer) - before
    assert moved.value("idp_logins_total", outcome="success") == 1
    assert moved.value("idp_logins_total", outcome="bad_credentials") == 1
    assert moved.value("idp_tokens_issued_total", grant_type="authorization_code") == 1
    assert moved.value("idp_tokens_issued_total", grant_type="refresh_token") == 1
    assert moved.value("idp_refresh_token_reuses_total") == 1
    assert moved.value("idp_password_hash_duration_seconds_count", operation="verify") == 2
    token_requests = {status: moved.value("idp_http_request_duration_seconds_count",
                                          method="POST", endpoint="oidc.token", status=status)
                      for status in ("200", "400")}
    assert token_requests == {"200": 2, "400": 1}


def test_a_login_with_a_second_factor_is_counted_at_each_step(op: Provider) -> None:
    op.run(ancre_people)
    identifier, authenticator, _ = enrolled_person(op)
    before = Scrape.of(op.issuer)
    wrong = password_then_code(Browser(op), identifier, "000000")
    right = password_then_code(Browser(op), identifier, authenticator.code())
    assert isinstance(wrong, Page) and wrong.status == 401
    assert isinstance(right, Page) and right.url.endswith("/compte/")
    moved = Scrape.of(op.issuer) - before
    assert moved.value("idp_logins_total", outcome="second_factor_required") == 2
    assert moved.value("idp_logins_total", outcome="success") == 0
    assert moved.value("idp_second_factor_checks_total", outcome="bad_code") == 1
    assert moved.value("idp_second_factor_checks_total", outcome="success") == 1


def test_a_lockout_is_counted_once(make_app: Callable[..., Flask], sqlite_url: str) -> None:
    app = make_app(sqlite_url, **METRICS_ON)
    with app.app_context():
        identifier = d.account("Élodie", "Martin", "elodie.martin@example.org").identifier
        db.session.commit()
    before = Scrape.parse(app.test_client().get("/metrics").get_data(as_text=True))
    limit = app.config["IDP"]["security"]["login_max_failures"]
    statuses = [attempt(app, identifier, WRONG, "192.0.2.10")[0] for _ in range(limit + 2)]
    assert statuses == [401] * limit + [429, 429]
    moved = Scrape.parse(app.test_client().get("/metrics").get_data(as_text=True)) - before
    assert moved.value("idp_login_lockouts_total", space="login") == 1
    assert moved.value("idp_logins_total", outcome="locked") == 2


def test_the_outbox_backlog_is_measured_at_each_scrape(
        make_app: Callable[..., Flask], sqlite_url: str) -> None:
    """A mail the SMTP server could not take waits in the outbox: the gauges show it
    until it is delivered."""
    port = free_port()  # nothing listens there yet
    app = make_app(sqlite_url, mail={"backend": "smtp", "smtp_host": "127.0.0.1",
                                     "smtp_port": port}, **METRICS_ON)
    client = app.test_client()

    def scrape() -> Scrape:
        return Scrape.parse(client.get("/metrics").get_data(as_text=True))

    before = scrape()
    with app.app_context():
        mail.queue("elodie.martin@example.org", "Essai", "Un essai.")
        db.session.commit()
        outbox.send_after_commit()
        assert outbox.wait_idle()
    waiting = scrape()
    assert waiting.value("idp_outbox_backlog", channel="mail") == 1
    assert waiting.value("idp_outbox_backlog", channel="backchannel") == 0
    assert waiting.value("idp_outbox_oldest_item_age_seconds", channel="mail") > 0
    assert (waiting - before).value("idp_outbox_deliveries_total", channel="mail",
                                    outcome="failed") == 1
    sink = SmtpSink.start(port)
    try:
        with app.app_context():
            deliver_due("mail", now=utcnow() + timedelta(hours=1))
    finally:
        sink.stop()
    delivered = scrape()
    assert delivered.value("idp_outbox_backlog", channel="mail") == 0
    assert delivered.value("idp_outbox_oldest_item_age_seconds", channel="mail") == 0
    assert (delivered - before).value("idp_outbox_deliveries_total", channel="mail",
                                      outcome="delivered") == 1


# --- the request log ------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "kept"), [
    ("lb-7f3a.42:x_y", True),
    ("x" * 129, False),           # too long
    ("evil\" id=forged", False),  # quotes and spaces would forge a plain log line
    ("", False),
])
def test_a_request_keeps_an_acceptable_id_and_gets_one_otherwise(
        sqlite_app: Flask, capsys: pytest.CaptureFixture[str], sent: str, kept: bool) -> None:
    capsys.readouterr()
    answer = sqlite_app.test_client().get("/connexion?next=/compte",
                                          headers={"X-Request-Id": sent})
    echoed = answer.headers["X-Request-Id"]
    assert echoed == sent if kept else re.fullmatch(r"[0-9a-f]{32}", echoed)
    [line] = request_lines(capsys.readouterr().err)
    assert line["request_id"] == echoed
    assert {k: line[k] for k in ("method", "path", "status")} == {
        "method": "GET", "path": "/connexion", "status": 200}  # no query string


def test_an_id_token_in_the_address_stays_out_of_the_log(
        sqlite_app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    hint = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI0NjM0NzEifQ.c2lnbmF0dXJl"
    capsys.readouterr()
    sqlite_app.test_client().get(f"/logout?id_token_hint={hint}")
    sqlite_app.test_client().get(f"/{hint}")  # pasted into the path by mistake
    written = capsys.readouterr().err
    assert hint not in written
    assert [line["path"] for line in request_lines(written)] == ["/logout", "/[masqué]"]


def test_the_plain_format_carries_the_same_facts(
        make_app: Callable[..., Flask], sqlite_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(sqlite_url, logging={"format": "plain"})
    capsys.readouterr()
    app.test_client().post("/token", data={"grant_type": "client_credentials",
                                           "client_id": "inconnu"},
                           headers={"X-Request-Id": "plain-1"})
    [line] = [line for line in capsys.readouterr().err.splitlines() if "idp.access" in line]
    assert re.search(r"INFO \[plain-1\] idp\.access: POST /token 401 [\d.]+ms "
                     r"client=inconnu outcome=invalid_client$", line), line


def test_a_whole_flow_logs_each_request_once_with_its_id_and_no_secret(
        op: Provider, capsys: pytest.CaptureFixture[str]) -> None:
    people = op.run(ancre_people)
    rp = register(op)
    capsys.readouterr()
    browser = Browser(op)
    request = rp.begin()
    arrival = browser.authorize(request.url, people.person, profile=people.profile_x)
    code = rp.code_from(request, arrival)
    tokens = rp.exchange(request, code)
    refreshed = rp.refresh(tokens.refresh_token or "")
    rp.userinfo(refreshed.access_token)
    written = capsys.readouterr().err

    lines = json_lines(written)
    requests_ = [line for line in lines if line["logger"] == "idp.access"]
    # One line per request: the browser's, then the application's (token, userinfo; not
    # its JWKS fetches: public documents are counted, not logged).
    pages = [urlsplit(url).path for url in browser.history]
    assert [line["path"] for line in requests_] == [*pages, "/token", "/token", "/userinfo"]
    assert len({line["request_id"] for line in requests_}) == len(requests_)
    token_lines = [line for line in requests_ if line["path"] == "/token"]
    assert [(line["client_id"], line["outcome"]) for line in token_lines] == [
        (rp.client_id, "token.authorization_code"), (rp.client_id, "token.refresh_token")]
    assert any(line["outcome"] == "login.success" for line in requests_)
    secrets = {"password": d.PASSWORD, "code": code, "client secret": rp.client_secret or "",
               "access token": tokens.access_token, "refresh token": tokens.refresh_token or "",
               "ID token": tokens.id_token, "new refresh token": refreshed.refresh_token or "",
               "session cookie": browser.http.cookies.get("plage_session") or ""}
    assert all(secrets.values())
    assert [name for name, value in secrets.items() if value in written] == []
