"""Several worker processes share nothing but the database and the short-lived store.

The provider runs under gunicorn with four worker processes (sync workers close the
connection after each request, so the requests of one browser are spread over whichever
processes accept them): the login, the profile choice, the code exchange, the refresh
and userinfo must all work whichever process answers — with the embedded defaults (SQLite and its
store file) and with the production pair (PostgreSQL and Redis).
"""

from __future__ import annotations

from collections.abc import Iterator
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
    """Prometheus' multiprocess mode: whichever worker answers the scrape, it counts
    the events of all, those of workers gone too (each is replaced after a few requests
    here, as `--max-requests` does in production)."""
    samples = tmp_path / "metrics"
    stale = samples / "counter_1.db"  # a previous run's samples: deleted at start
    samples.mkdir()
    stale.write_bytes(b"")
    with gunicorn_serving(make_app, sqlite_url, "", tmp_path, workers=2, env={
            "IDP_METRICS__ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(samples),
            "GUNICORN_CMD_ARGS": "--max-requests 6"}) as op:
        people = op.run(ancre_people)
        rp = register(op)
        for _ in range(2):
            tokens = rp.login(Browser(op), people.person, profile=people.profile_x)
            rp.refresh(tokens.refresh_token or "")
        scrapes = [Scrape.of(op.issuer) for _ in range(3)]
    assert not stale.exists()
    for scrape in scrapes:
        assert scrape.value("idp_logins_total", outcome="success") == 2
        assert scrape.value("idp_tokens_issued_total", grant_type="authorization_code") == 2
        assert scrape.value("idp_tokens_issued_total", grant_type="refresh_token") == 2
    served_by = [path for path in samples.glob("histogram_*.db")
                 if _requests_served(path) > 0]
    assert len(served_by) > 2  # several generations of workers counted in one scrape


def _requests_served(samples: Path) -> float:
    """The requests one worker process timed, read from its own sample file."""
    return sum(sample.value for metric in MultiProcessCollector.merge([str(samples)])
               if metric.name == "idp_http_request_duration_seconds"
               for sample in metric.samples if sample.name.endswith("_count"))
