"""The short-lived store: authorization codes, sessions, rate limits, replay caches.

Every value expires; `pop` and `add` are atomic so that a code is used once and a nonce
is seen once, even with many processes on many hosts. Redis backs it when `redis.url`
is set; otherwise the SQL database does (the embedded default), with the same semantics.

Besides plain values it keeps sets whose members expire one by one (`add_member`,
`members`): the index from an account to its sessions. A key holds either a value or a
set, never both.
"""

from __future__ import annotations

from typing import Any, Protocol

JSONValue = Any  # whatever json.dumps accepts


class StoreUnavailable(Exception):
    """The backing service did not answer; callers show a clear page, never a 500."""


class ShortLivedStore(Protocol):
    def put(self, key: str, value: JSONValue, ttl: int) -> None:
        """Set `key` to `value` for `ttl` seconds, replacing any previous value."""

    def add(self, key: str, value: JSONValue, ttl: int) -> bool:
        """Set `key` only if it is absent (or expired); True if this call set it."""

    def get(self, key: str) -> JSONValue | None:
        """The live value of `key`, or None."""

    def pop(self, key: str) -> JSONValue | None:
        """Atomically read and delete `key`: of concurrent callers only one gets the value."""

    def replace(self, key: str, value: JSONValue, ttl: int) -> bool:
        """Set a live `key` to `value` for `ttl` seconds; False (and nothing set) if it is
        absent or expired: what was deleted meanwhile stays deleted."""

    def touch(self, key: str, ttl: int) -> bool:
        """Make a live `key` expire `ttl` seconds from now; False if it is absent or
        expired."""

    def delete(self, key: str) -> None: ...

    def add_member(self, key: str, member: str, ttl: int) -> None:
        """Add `member` to the set at `key` for `ttl` seconds (a member added again keeps
        the later expiry); the set lives as long as its last member."""

    def members(self, key: str) -> list[str]:
        """The live members of the set at `key` (none if there is no such set)."""

    def incr(self, key: str, ttl: int) -> int:
        """Add one to a counter that starts at 0 and expires `ttl` s after its creation."""

    def purge_expired(self) -> int:
        """Drop expired entries where the backend does not do it itself; the count dropped."""


def create_store(redis_url: str, database_url: str, engine: Any) -> ShortLivedStore:
    """Redis when configured; otherwise the SQL database.

    SQLite lets one connection write at a time: a store write made while a request holds
    a write transaction on the main database would wait for it forever. So with SQLite
    the store gets its own file beside the database (`<name>-store.sqlite3`); with
    PostgreSQL it shares the database (row locks do not conflict).
    """
    if redis_url:
        from idp.store.redis_store import RedisStore

        return RedisStore.from_url(redis_url)
    from idp.store.sql_store import SQLStore

    if database_url.startswith("sqlite:///"):
        return SQLStore.sqlite_sidecar(database_url)
    return SQLStore.on_engine(engine)
