"""Redis behind Sentinel, named by `redis.url = "redis+sentinel://…"`: the provider
finds the primary through Sentinel and follows it when Sentinel promotes the replica,
in the middle of a person's login, without losing the login or the code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from idp.store.redis_connection import InvalidRedisUrl, parse_sentinel_url
from tests.support.oidc import Browser, ancre_people, register, serving
from tests.support.services import SentinelSet


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelSet]:
    servers = SentinelSet.start(str(tmp_path))
    try:
        yield servers
    finally:
        servers.stop()


def test_a_failover_in_the_middle_of_a_login_goes_unnoticed(
        make_app: Callable[..., Flask], sqlite_url: str, sentinel: SentinelSet) -> None:
    with serving(make_app) as serve:
        op = serve(sqlite_url, sentinel.url)
        people = op.run(ancre_people)
        rp = register(op)
        browser = Browser(op)
        request = rp.begin()
        code = rp.code_from(request, browser.authorize(request.url, people.person,
                                                       profile=people.profile_x))
        old_primary = sentinel.primary_port()
        sentinel.failover()
        assert sentinel.primary_port() != old_primary
        # The code, the login session and its refresh all live in Redis.
        tokens = rp.exchange(request, code)
        refreshed = rp.refresh(tokens.refresh_token or "")
        assert refreshed.id_claims["sid"] == tokens.id_claims["sid"]
        again = rp.login(browser, people.person, profile=people.profile_y)  # no password
        assert again.id_claims["sid"] == tokens.id_claims["sid"]


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    assert parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1,10.0.0.2:26380/plage/2") \
        == ([("10.0.0.1", 26379), ("10.0.0.2", 26380)], "plage", 2, "s@cret")
    assert parse_sentinel_url("redis+sentinel://sentinel.internal/plage") == (
        [("sentinel.internal", 26379)], "plage", 0, None)


@pytest.mark.parametrize("url", [
    "redis+sentinel:///plage", "redis+sentinel://h/", "redis+sentinel://h/plage/x",
    "redis+sentinel://h:port/plage", "redis+sentinel://h/plage/0/extra",
])
def test_a_malformed_sentinel_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidRedisUrl):
        parse_sentinel_url(url)
