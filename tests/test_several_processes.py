"""Several worker processes share nothing but the database and the short-lived store.

The provider runs under gunicorn with four worker processes (sync workers close the
connection after each request, so the requests of one browser are spread over whichever
processes accept them): the login, the profile choice, the code exchange, the refresh
and userinfo must all work whichever process answers — with the embedded defaults (SQLite and its
store file) and with the production pair (PostgreSQL and Redis).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.oidc import Browser, Provider, ancre_people, register
from tests.support.services import free_port
from tests.support.tls import throwaway_certificate, tls_proxy

WORKERS = 4


@pytest.fixture(params=["sqlite-embedded", "postgresql-redis"])
def backends(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "sqlite-embedded":
        return request.getfixturevalue("sqlite_url"), ""
    return (request.getfixturevalue("postgresql_url"),
            request.getfixturevalue("redis_url"))


@contextmanager
def gunicorn_serving(make_app, database_url: str, redis_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                     issuer: str | None = None, workers: int = WORKERS,
                     proxy_hops: int = 0) -> Iterator[Provider]:
    """gunicorn serving the provider on a free port of 127.0.0.1 (its issuer `issuer`,
    by default that address), with the test's own app on the same database and store."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = issuer or base
    instance = tmp_path / "shared-instance"
    local = make_app(database_url, redis_url,
                     server={"issuer": issuer, "instance_path": str(instance)})
    with local.app_context():
        from idp.core.audit import Actor
        from idp.keys import service as keys

        keys.ensure_keys("test-passphrase", Actor(label="test"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_DATABASE__URL=database_url, IDP_REDIS__URL=redis_url,
               IDP_SERVER__ISSUER=issuer, IDP_SERVER__INSTANCE_PATH=str(instance),
               IDP_SERVER__PROXY_HOPS=str(proxy_hops),
               IDP_SERVER__SECRET_KEY="test-secret-key", IDP_KEYS__PASSPHRASE="test-passphrase")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "-b",
         f"127.0.0.1:{port}", "--graceful-timeout", "2", "idp:create_app()"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90  # workers booting on a busy CI machine
        while True:
            try:
                if requests.get(f"{base}/health", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or the workers are still booting
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"gunicorn did not start:\n{server.communicate()[0]}")
            time.sleep(0.2)
        yield Provider(app=local, issuer=base)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()


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
        proxy.upstream = upstream.issuer
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
