"""Several worker processes share nothing but the database and the short-lived store.

The provider runs under gunicorn with four worker processes (sync workers close the
connection after each request, so the requests of one browser are spread over whichever
processes accept them): the login, the profile choice, the code exchange, the refresh
and userinfo must all work whichever process answers — with the embedded defaults (SQLite and its
store file) and with the production pair (PostgreSQL and Redis).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.gunicorn import gunicorn_serving
from tests.support.oidc import Browser, Provider, ancre_people, register
from tests.support.ops import Scrape
from tests.support.tls import throwaway_certificate, tls_proxy


@pytest.fixture(params=["sqlite-embedded", "postgresql-redis"])
def backends(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "sqlite-embedded":
        return request.getfixturevalue("sqlite_url"), ""
    return (request.getfixturevalue("postgresql_url"),
            request.getfixturevalue("redis_url"))


@pytest.fixture
def gunicorn(backends: tuple[str, str], make_app, tmp_path: Path) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    with gunicorn_serving(make_app, *backends, tmp_path) as provider:
        yield provider


def test_a_login_spread_over_worker_processes(gunicorn: Provider) -> None:
    op = gunicorn
    people = op.run(ancre_people)
    rp = register(op)
    served_by: set[str] = set()
    for attempt in range(3):
        browser = Browser(op)
        tokens = rp.login(browser, people.person,
                          profile=people.profile_y if attempt % 2 else people.profile_x)
        expected = people.label_y if attempt % 2 else people.label_x
        assert tokens.id_claims["profile"]["label"] == expected
        refreshed = rp.refresh(tokens.refresh_token or "")
        assert refreshed.id_claims["profile"]["label"] == expected
        info = rp.userinfo(refreshed.access_token)
        assert info.status_code == 200 and info.json()["sub"] == people.person
        served_by.update(browser.history)
    # The flows went through the login, choice and resume pages of the provider.
    assert any("/connexion" in url for url in served_by)
    assert any("/profil" in url for url in served_by)


def test_the_production_shape_https_proxy_gunicorn_postgresql_redis(
        make_app, postgresql_url: str, redis_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A TLS proxy (proxy_hops = 1) in front of two gunicorn workers on PostgreSQL and
    Redis: a person signs in over https and the client gets and refreshes its tokens."""
    certificate = throwaway_certificate(tmp_path)
    # The client trusts the proxy: requests (REQUESTS_CA_BUNDLE) and PyJWT's urllib
    # (SSL_CERT_FILE, read by OpenSSL's default verify paths).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    with tls_proxy(certificate) as proxy, gunicorn_serving(
            make_app, postgresql_url, redis_url, tmp_path, issuer=proxy.base, workers=2,
            proxy_hops=1) as upstream:
        proxy.upstreams = (upstream.issuer,)
        op = Provider(app=upstream.app, issuer=proxy.base)
        people = op.run(ancre_people)
        rp = register(op)
        browser = Browser(op)
        tokens = rp.login(browser, people.person, profile=people.profile_x)
        assert tokens.id_claims["iss"] == proxy.base
        assert browser.http.cookies.get("__Host-plage_session")  # a secure session cookie
        assert any(url.startswith(proxy.base + "/connexion") for url in browser.history)
        refreshed = rp.refresh(tokens.refresh_token or "")
        assert refreshed.id_claims["profile"]["label"] == people.label_x
        assert rp.userinfo(refreshed.access_token).json()["sub"] == people.person


def test_a_scrape_adds_up_every_worker_process(make_app, sqlite_url: str,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    """Prometheus' multiprocess mode: a scrape counts the events of every worker, those
    of a worker gone too. gunicorn is told to reload (SIGHUP, as a deployment does): a
    new worker serves the second login once the first one has exited. gunicorn's own
    lines, before and after the reload, are JSON like the provider's."""
    samples, pidfile = tmp_path / "metrics", tmp_path / "gunicorn.pid"
    output = tmp_path / "gunicorn.log"
    stale = samples / "counter_1.db"  # a previous run's samples: deleted at start
    samples.mkdir()
    stale.write_bytes(b"")
    with gunicorn_serving(make_app, sqlite_url, "", tmp_path, workers=1, env={
            "IDP_METRICS__ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(samples),
            "GUNICORN_CMD_ARGS": f"--pid {pidfile}"}, output=output) as op:
        assert not stale.exists()
        people = op.run(ancre_people)
        rp = register(op)
        tokens = rp.login(Browser(op), people.person, profile=people.profile_x)
        rp.refresh(tokens.refresh_token or "")
        [first] = _workers(samples)
        os.kill(int(pidfile.read_text()), signal.SIGHUP)
        _wait_until(lambda: _workers(samples) - {first} and not _alive(first))
        tokens = rp.login(Browser(op), people.person, profile=people.profile_x)
        rp.refresh(tokens.refresh_token or "")
        scrape = Scrape.of(op.issuer)
    assert scrape.value("idp_logins_total", outcome="success") == 2
    assert scrape.value("idp_tokens_issued_total", grant_type="authorization_code") == 2
    assert scrape.value("idp_tokens_issued_total", grant_type="refresh_token") == 2
    served = {pid: _requests_served(samples / f"histogram_{pid}.db")
              for pid in _workers(samples)}
    assert len(served) == 2 and all(served.values()), served
    lines = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    booted = [line for line in lines if line["logger"] == "gunicorn.error"
              and line["message"].startswith("Booting worker")]
    assert len(booted) == 2, lines


def _workers(samples: Path) -> set[int]:
    """The worker processes that wrote samples (each writes its counters at start)."""
    return {int(path.stem.rpartition("_")[2]) for path in samples.glob("counter_*.db")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(condition: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gunicorn did not replace its worker"
        time.sleep(0.1)


def _requests_served(samples: Path) -> float:
    """The requests one worker process timed, read from its own sample file."""
    return sum(sample.value for metric in MultiProcessCollector.merge([str(samples)])
               if metric.name == "idp_http_request_duration_seconds"
               for sample in metric.samples if sample.name.endswith("_count"))
