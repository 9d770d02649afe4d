"""Redis implementation of the short-lived store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import redis

from idp.store import JSONValue, StoreUnavailable, redis_connection

T = TypeVar("T")

_INCR_WITH_TTL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# A set whose members expire one by one: a sorted set scored by each member's expiry
# (Unix time). Expired members are dropped at each addition, and the key itself expires
# with its last member.
_ADD_MEMBER = """
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
"""


def _translate_errors(method: Callable[..., T]) -> Callable[..., T]:
    @wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis: {exc}") from exc

    return wrapper


class RedisStore:
    def __init__(self, client: redis.Redis, prefix: str = "idp:") -> None:
        self.client = client
        self.prefix = prefix
        self._incr = client.register_script(_INCR_WITH_TTL)
        self._add_member = client.register_script(_ADD_MEMBER)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A server's URL (`redis://`), or Sentinel's (`redis+sentinel://`)."""
        return cls(redis_connection.client(url))

    def _k(self, key: str) -> str:
        return self.prefix + key

    @_translate_errors
    def put(self, key: str, value: JSONValue, ttl: int) -> None:
        self.client.set(self._k(key), json.dumps(value), ex=max(1, ttl))

    @_translate_errors
    def add(self, key: str, value: JSONValue, ttl: int) -> bool:
        return bool(self.client.set(self._k(key), json.dumps(value), ex=max(1, ttl), nx=True))

    @_translate_errors
    def get(self, key: str) -> JSONValue | None:
        raw = self.client.get(self._k(key))
        return None if raw is None else json.loads(raw)

    @_translate_errors
    def pop(self, key: str) -> JSONValue | None:
        raw = self.client.getdel(self._k(key))
        return None if raw is None else json.loads(raw)

    @_translate_errors
    def replace(self, key: str, value: JSONValue, ttl: int) -> bool:
        return bool(self.client.set(self._k(key), json.dumps(value), ex=max(1, ttl), xx=True))

    @_translate_errors
    def touch(self, key: str, ttl: int) -> bool:
        return bool(self.client.expire(self._k(key), max(1, ttl)))

    @_translate_errors
    def delete(self, key: str) -> None:
        self.client.delete(self._k(key))

    @_translate_errors
    def add_member(self, key: str, member: str, ttl: int) -> None:
        now = time.time()
        self._add_member(keys=[self._k(key)], args=[now + max(1, ttl), member, now])

    @_translate_errors
    def members(self, key: str) -> list[str]:
        found = self.client.zrangebyscore(self._k(key), f"({time.time()}", "+inf")
        return [m.decode() for m in found]

    @_translate_errors
    def incr(self, key: str, ttl: int) -> int:
        return int(self._incr(keys=[self._k(key)], args=[max(1, ttl)]))

    def purge_expired(self) -> int:
        return 0  # Redis expires keys itself
