"""The production topology on one machine: a TLS load balancer in front of two provider
hosts (two gunicorn servers on their own ports, as on two machines) sharing one
PostgreSQL and one Redis, and nothing else. They behave as one provider: a login made
through one host is good on the other, a logout on either ends it on both, a key rotated
on one is served by both, and failed logins count across both.

The load balancer sends requests to each host in turn; a test pins it to one host to
say which one answers a step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from idp.core.audit import Actor
from idp.extensions import db
from idp.keys import service as keys
from tests.support.directory import PASSWORD
from tests.support.gunicorn import gunicorn_serving
from tests.support.oidc import (
    Browser,
    Page,
    People,
    Provider,
    ProviderError,
    RelyingParty,
    ancre_people,
    register,
)
from tests.support.ops import Scrape, request_lines
from tests.support.services import PostgresServer
from tests.support.tls import TlsProxy, throwaway_certificate, tls_proxy
from tests.test_login_lockout import WRONG


@dataclass
class Host:
    provider: Provider  # served at its own address (for the scrapes)
    log: Path


@dataclass
class Topology:
    balancer: TlsProxy
    hosts: tuple[Host, Host]
    op: Provider  # the provider as the world sees it: through the load balancer
    people: People
    rp: RelyingParty

    def pin(self, host: int) -> None:
        """From now on, every request goes to `hosts[host]`."""
        self.balancer.upstreams = (self.hosts[host].provider.issuer,)


@pytest.fixture
def topology(make_app, postgresql_url: str, redis_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Topology]:
    certificate = throwaway_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    with ExitStack() as stack:
        balancer = stack.enter_context(tls_proxy(certificate))
        hosts = []
        for name in ("a", "b"):
            log = tmp_path / f"host-{name}.log"
            provider = stack.enter_context(gunicorn_serving(
                make_app, postgresql_url, redis_url, tmp_path, issuer=balancer.base,
                workers=1, proxy_hops=1, output=log,
                env={"IDP_METRICS__ENABLED": "true",
                     "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{name}")}))
            hosts.append(Host(provider, log))
        first, second = hosts
        balancer.upstreams = (first.provider.issuer, second.provider.issuer)
        op = Provider(app=first.provider.app, issuer=balancer.base)
        yield Topology(balancer, (first, second), op, op.run(ancre_people), register(op))


def test_a_login_on_one_host_gives_tokens_on_the_other(topology: Topology) -> None:
    op, rp, people = topology.op, topology.rp, topology.people
    browser = Browser(op)
    topology.pin(0)
    request = rp.begin()
    code = rp.code_from(request, browser.authorize(request.url, people.person,
                                                   profile=people.profile_x))
    topology.pin(1)
    tokens = rp.exchange(request, code)
    refreshed = rp.refresh(tokens.refresh_token or "")
    assert rp.userinfo(refreshed.access_token).json()["sub"] == people.person

    served = [{line["path"] for line in request_lines(host.log.read_text())}
              for host in topology.hosts]
    assert "/connexion" in served[0] and "/connexion" not in served[1]
    assert "/token" in served[1] and "/token" not in served[0]
    written = "".join(host.log.read_text() for host in topology.hosts)
    for secret in (PASSWORD, code, rp.client_secret or "", tokens.access_token,
                   tokens.refresh_token or "", tokens.id_token):
        assert secret not in written


def test_a_logout_on_either_host_ends_the_session_on_both(topology: Topology) -> None:
    op, rp, people = topology.op, topology.rp, topology.people
    for login_host, logout_host in ((0, 1), (1, 0)):
        browser = Browser(op)
        topology.pin(login_host)
        tokens = rp.login(browser, people.person, profile=people.profile_x)
        topology.pin(logout_host)
        assert _signed_in(browser, op)
        query = urlencode({"id_token_hint": tokens.id_token})
        assert isinstance(browser.open(f"{op.issuer}/logout?{query}"), Page)
        for host in (0, 1):
            topology.pin(host)
            assert not _signed_in(browser, op)
            with pytest.raises(ProviderError, match="invalid_grant"):
                rp.refresh(tokens.refresh_token or "")


def _signed_in(browser: Browser, op: Provider) -> bool:
    """Whether the provider knows this browser's login (its login page would move on)."""
    page = browser.open(f"{op.issuer}/connexion")
    return not (isinstance(page, Page) and page.kind == "login")


def test_a_key_rotated_on_one_host_is_served_by_both(topology: Topology) -> None:
    """`idp keys rotate`, run on host a (its app, on the shared database)."""
    def rotate() -> str:
        row = keys.rotate("RS256", "test-passphrase", Actor(label="ops"),
                          retire_after=timedelta(hours=1))
        db.session.commit()
        return row.kid

    kid = topology.op.run(rotate)
    for host in topology.hosts:
        published = requests.get(f"{host.provider.issuer}/jwks", timeout=10).json()
        assert kid in {key["kid"] for key in published["keys"]}
    # A login through the load balancer, each request to the next host in turn.
    tokens = topology.rp.login(Browser(topology.op), topology.people.person,
                               profile=topology.people.profile_x)
    assert tokens.id_header["kid"] == kid


def test_failed_logins_count_across_both_hosts(topology: Topology) -> None:
    """Five failures spread over the two hosts lock the identifier out of both, and
    the lockout is counted once, by the host that refused first."""
    person = topology.people.spare
    browser = Browser(topology.op)
    statuses = []
    for attempt in range(6):
        topology.pin(attempt % 2)
        page = browser.open(f"{topology.op.issuer}/connexion")
        assert isinstance(page, Page)
        answer = browser.login(page, person, WRONG)
        statuses.append(answer.status)  # type: ignore[union-attr]
    assert statuses == [401] * 5 + [429]
    for host in (0, 1):
        topology.pin(host)
        page = browser.open(f"{topology.op.issuer}/connexion")
        assert browser.login(page, person).status == 429  # type: ignore[arg-type, union-attr]
    scrapes = [Scrape.of(host.provider.issuer) for host in topology.hosts]
    assert sum(s.value("idp_login_lockouts_total", space="login") for s in scrapes) == 1
    assert all(s.value("idp_logins_total", outcome="bad_credentials") > 0 for s in scrapes)


def test_the_hosts_ride_out_a_postgresql_restart(topology: Topology,
                                                 pg_server: PostgresServer) -> None:
    """PostgreSQL goes down in the middle of a login: the hosts say they are not ready
    (the store still answers), then, once it is back, their pools reconnect by
    themselves and the flow goes on where it was."""
    op, rp, people = topology.op, topology.rp, topology.people
    topology.pin(0)
    request = rp.begin()
    code = rp.code_from(request, Browser(op).authorize(request.url, people.person,
                                                       profile=people.profile_x))
    pg_server.halt()
    try:
        for host in topology.hosts:
            ready = requests.get(f"{host.provider.issuer}/readyz", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"] == {"database": "unavailable", "store": "ok"}
    finally:
        pg_server.resume()
    for host in topology.hosts:
        assert requests.get(f"{host.provider.issuer}/readyz", timeout=10).status_code == 200
    topology.pin(1)
    tokens = rp.exchange(request, code)
    topology.pin(0)
    assert rp.refresh(tokens.refresh_token or "").id_claims["sub"] == people.person
