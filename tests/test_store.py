"""The short-lived store keeps the same promises on every backend: expiry, single use,
set-if-absent, counters, sets whose members expire — also under concurrent use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from idp.cli import cli
from idp.store import ShortLivedStore, StoreUnavailable
from tests.support.apps import AppFactory
from tests.support.clock import PassTime, store_clock, time_passer


@pytest.fixture(params=["sql-sqlite", "sql-postgresql", "redis"])
def store_app(request: pytest.FixtureRequest, make_app: AppFactory) -> Flask:
    if request.param == "redis":
        return make_app(request.getfixturevalue("sqlite_url"),
                        redis_url=request.getfixturevalue("redis_url"))
    backend = request.param.split("-")[1]
    return make_app(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture
def pass_time(store_app: Flask) -> PassTime:
    """Let seconds pass for the store: the SQL store's clock moves; Redis, whose own
    expiry is then what is tested, is waited for."""
    return time_passer(store_app)


@pytest.fixture
def store(store_app: Flask, pass_time: PassTime) -> ShortLivedStore:
    return store_app.extensions["idp.store"]  # on its clock (pass_time comes first)


def test_put_get_and_replace(store: ShortLivedStore) -> None:
    store.put("session:a", {"account": "463471", "profiles": [1, 2]}, ttl=60)
    assert store.get("session:a") == {"account": "463471", "profiles": [1, 2]}
    store.put("session:a", {"account": "other"}, ttl=60)
    assert store.get("session:a") == {"account": "other"}
    assert store.get("session:missing") is None


def test_values_expire(store: ShortLivedStore, pass_time: PassTime) -> None:
    store.put("code:x", "v", ttl=1)
    assert store.get("code:x") == "v"
    pass_time(1.2)
    assert store.get("code:x") is None
    assert store.pop("code:x") is None


def test_pop_is_single_use(store: ShortLivedStore) -> None:
    store.put("code:once", {"client": "ancre"}, ttl=60)
    assert store.pop("code:once") == {"client": "ancre"}
    assert store.pop("code:once") is None
    assert store.get("code:once") is None


def test_concurrent_pops_give_the_value_to_exactly_one(store: ShortLivedStore) -> None:
    store.put("code:race", "secret", ttl=60)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.pop("code:race"), range(16)))
    assert results.count("secret") == 1
    assert results.count(None) == 15


def test_add_only_sets_absent_or_expired_keys(store: ShortLivedStore, pass_time: PassTime) -> None:
    assert store.add("nonce:n1", 1, ttl=1) is True
    assert store.add("nonce:n1", 2, ttl=60) is False
    assert store.get("nonce:n1") == 1
    pass_time(1.2)
    assert store.add("nonce:n1", 3, ttl=60) is True
    assert store.get("nonce:n1") == 3


def test_concurrent_adds_succeed_once(store: ShortLivedStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: store.add("jti:j", i, ttl=60), range(16)))
    assert results.count(True) == 1


def test_counters_count_and_expire(store: ShortLivedStore, pass_time: PassTime) -> None:
    assert [store.incr("rate:ip", ttl=1) for _ in range(3)] == [1, 2, 3]
    pass_time(1.2)
    assert store.incr("rate:ip", ttl=60) == 1


def test_concurrent_increments_are_not_lost(store: ShortLivedStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: store.incr("rate:burst", ttl=60), range(40)))
    assert store.incr("rate:burst", ttl=60) == 41


def test_delete_and_purge(store: ShortLivedStore, pass_time: PassTime) -> None:
    store.put("k1", 1, ttl=60)
    store.delete("k1")
    assert store.get("k1") is None
    store.put("k2", 2, ttl=1)
    pass_time(1.2)
    store.purge_expired()
    assert store.get("k2") is None


def test_replace_and_touch_only_act_on_live_keys(store: ShortLivedStore,
                                                 pass_time: PassTime) -> None:
    assert store.replace("session:gone", {"a": 1}, ttl=60) is False
    assert store.touch("session:gone", ttl=60) is False
    assert store.get("session:gone") is None  # nothing brought back to life
    store.put("session:s", {"a": 1}, ttl=1)
    assert store.replace("session:s", {"a": 2}, ttl=1) is True
    assert store.touch("session:s", ttl=3) is True
    pass_time(1.2)
    assert store.get("session:s") == {"a": 2}  # the touch postponed its expiry
    store.delete("session:s")
    assert store.touch("session:s", ttl=60) is False
    store.put("session:short", 1, ttl=1)
    pass_time(1.2)
    assert store.replace("session:short", 2, ttl=60) is False
    assert store.get("session:short") is None


def test_set_members_expire_one_by_one(store: ShortLivedStore, pass_time: PassTime) -> None:
    assert store.members("account-sessions:1") == []
    store.add_member("account-sessions:1", "a", ttl=1)
    store.add_member("account-sessions:1", "b", ttl=60)
    store.add_member("account-sessions:12", "c", ttl=60)
    assert sorted(store.members("account-sessions:1")) == ["a", "b"]
    pass_time(1.2)
    assert store.members("account-sessions:1") == ["b"]
    store.add_member("account-sessions:1", "b", ttl=1)  # keeps its later expiry
    pass_time(1.2)
    assert store.members("account-sessions:1") == ["b"]
    assert store.members("account-sessions:12") == ["c"]


def test_the_set_ends_with_its_last_member(store: ShortLivedStore, pass_time: PassTime) -> None:
    store.add_member("account-sessions:2", "a", ttl=1)
    pass_time(1.2)
    assert store.members("account-sessions:2") == []
    store.add_member("account-sessions:2", "b", ttl=60)
    assert store.members("account-sessions:2") == ["b"]


def test_concurrent_additions_keep_every_member(store: ShortLivedStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: store.add_member("account-sessions:3", f"m{i}", ttl=60),
                      range(24)))
    assert sorted(store.members("account-sessions:3")) == sorted(f"m{i}" for i in range(24))


def test_redis_down_is_reported_as_unavailable(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from tests.support.services import free_port

    app = make_app(sqlite_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    store = app.extensions["idp.store"]
    with pytest.raises(StoreUnavailable):
        store.put("k", 1, ttl=60)
    response = app.test_client().get("/")
    assert response.status_code == 200  # pages that need no store still work


# --- the embedded store stays bounded ---------------------------------------------------


def _rows(store: ShortLivedStore) -> int:
    from sqlalchemy import func, select

    from idp.store.sql_store import ShortLivedEntry

    return store._run(lambda s: s.scalar(select(func.count()).select_from(ShortLivedEntry)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_anonymous_traffic_does_not_grow_the_embedded_store_for_ever(
        backend: str, make_app, request) -> None:  # type: ignore[no-untyped-def]
    from idp.store.sql_store import PURGE_EVERY

    app = make_app(request.getfixturevalue(f"{backend}_url"))
    clock = store_clock(app)
    store = app.extensions["idp.store"]
    for visitor in range(200):  # sessions and counters of visitors who never come back
        store.put(f"session:{visitor}", {"csrf": "x"}, ttl=60)
        store.incr(f"rate:{visitor}", ttl=60)
    assert _rows(store) == 400
    clock.advance(PURGE_EVERY + 61)  # all of them expired, and a purge is due
    store.put("session:new", {}, ttl=60)
    assert _rows(store) == 1
    assert store.get("session:new") == {}


def test_the_purge_command(make_app, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    store = app.extensions["idp.store"]
    store.put("code:old", "v", ttl=-1)  # expired already
    store.put("code:live", "v", ttl=600)
    result = app.test_cli_runner().invoke(cli, ["store", "purge", "--json"])
    assert result.exit_code == 0, result.output
    assert '"purged": 1' in result.output
    assert store.get("code:live") == "v"
