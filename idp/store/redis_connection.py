"""The Redis client of a `redis.url`: a server, or a primary found through Sentinel.

`redis://` and `rediss://` URLs go to redis-py as they are. A Sentinel deployment is
named by a URL of its own (redis-py has none):

    redis+sentinel://[:password@]host[:port][,host[:port]...]/service[/db]

the sentinels (port 26379 by default) and the name they monitor the primary under; the
password, if any, is the Redis servers' (the sentinels themselves take none). The
client asks the sentinels where the primary is, and asks again when it stops being the
primary (a failover): the command that met the old one is retried on the new one.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 5}


class InvalidRedisUrl(ValueError):
    pass


def client(url: str) -> redis.Redis:
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        return redis.Redis.from_url(url, **_TIMEOUTS)
    sentinels, service, db, password = parse_sentinel_url(url)
    # A failover takes a few seconds: a command is tried again meanwhile (a connection
    # error, or the old primary answering that it is a replica now).
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=8)
    return Sentinel(sentinels, **_TIMEOUTS).master_for(
        service, db=db, password=password, retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError], **_TIMEOUTS)


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int, str | None]:
    """The sentinels' addresses, the service name, the database and the password."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    password = unquote(credentials.partition(":")[2]) or None
    path = [segment for segment in parts.path.split("/") if segment]
    if not hosts or not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
        raise InvalidRedisUrl(f"expected {SENTINEL_SCHEME}://host[:port][,host[:port]...]"
                              "/service[/db]")
    sentinels = []
    for address in hosts.split(","):
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
        if not host or (port and not port.isdigit()):
            raise InvalidRedisUrl(f"{address!r} is not host[:port]")
        sentinels.append((host, int(port or SENTINEL_PORT)))
    return sentinels, path[0], int(path[1]) if len(path) == 2 else 0, password
