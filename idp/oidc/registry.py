"""What every token request reads and almost nothing changes: the clients, the signing
keys and the levels the catalogue's domains require, kept in process and kept true
across processes and hosts.

The cache of an app holds entries read from the database together with the version of
the registry they were read under. That version is a random value in the short-lived
store (Redis in production), shared by every process: a commit that changed a client, a
signing key or a domain writes a new one (`after_commit`, whatever made the change: the admin
pages, the CLI, a test). Each request compares the version once (one GET); when it
changed, every entry is dropped and read again. A reader takes the version before it
reads the database, and a writer changes it after its commit, so no process keeps data
older than the version it holds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from itertools import chain
from typing import Any, TypeVar

from flask import current_app, has_app_context, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from idp.clients.models import Client
from idp.directory.models import Domain
from idp.keys.models import SigningKey
from idp.store import ShortLivedStore

T = TypeVar("T")

VERSION_KEY = "registry-version"
VERSION_TTL = 90 * 24 * 3600  # renewed with a new value when it runs out: all reload
WATCHED = (Client, SigningKey, Domain)
_CHANGED = "idp.registry_changed"
_CHECKED = "idp.registry_version"  # in the WSGI environ: the version this request saw
MAX_ENTRIES = 4096  # unknown client ids are cached too: a flood must not grow the cache


class Registry:
    def __init__(self, store: ShortLivedStore) -> None:
        self._store = store
        self._version: str | None = None
        self._checked_at = float("-inf")  # time.monotonic() of the last comparison
        # name -> (value, monotonic expiry or None, the version it was read under)
        self._entries: dict[str, tuple[Any, float | None, str | None]] = {}

    def _current_version(self) -> str:
        version = self._store.get(VERSION_KEY)
        if version is None:
            self._store.add(VERSION_KEY, secrets.token_hex(8), VERSION_TTL)
            version = self._store.get(VERSION_KEY)
        return str(version)

    def _check(self, lag: float) -> None:
        """Compare the version with the store's, once per request (at every call
        outside a request: the CLI, tests), or once per `lag` seconds."""
        now = time.monotonic()
        if now - self._checked_at < lag:
            return
        if has_request_context():
            seen = request.environ.get(_CHECKED)
            if seen is not None and seen == self._version:
                return
        version = self._current_version()
        if version != self._version:
            self._entries.clear()
            self._version = version
        self._checked_at = now
        if has_request_context():
            request.environ[_CHECKED] = version

    def cached(self, name: str, load: Callable[[], T], ttl: float | None = None,
               lag: float = 0.0) -> T:
        """The entry `name`, read by `load` if it is not held (or was read more than
        `ttl` seconds ago). With `lag`, a change made elsewhere may go unseen that many
        seconds: for what is cached downstream anyway (the JWKS)."""
        self._check(lag)
        version = self._version  # an entry read under an older one (another thread) is stale
        held = self._entries.get(name)
        now = time.monotonic()
        if held is not None and held[2] == version and (held[1] is None or held[1] > now):
            return held[0]
        value = load()
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[name] = (value, None if ttl is None else now + ttl, version)
        return value

    def peek(self, name: str, lag: float) -> Any | None:
        """The entry `name` if it is held, unexpired, and its version was compared with
        the store's less than `lag` seconds ago; else None (the caller then goes through
        `cached`). It reads neither the store nor the database: it can answer ahead of
        the application, outside any request."""
        held = self._entries.get(name)
        now = time.monotonic()
        if (held is None or held[2] != self._version or now - self._checked_at >= lag
                or (held[1] is not None and held[1] <= now)):
            return None
        return held[0]

    def changed(self) -> None:
        """Tell every process (this one first) that the registry changed."""
        self._entries.clear()
        self._version = None
        self._checked_at = float("-inf")
        self._store.put(VERSION_KEY, secrets.token_hex(8), VERSION_TTL)


def install(app: Any) -> None:
    app.extensions["idp.registry"] = Registry(app.extensions["idp.store"])


def registry() -> Registry:
    return current_app.extensions["idp.registry"]


# --- noticing changes -----------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if any(isinstance(obj, WATCHED)
           for obj in chain(session.new, session.dirty, session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and any(
            mapper.class_ in WATCHED for mapper in state.all_mappers):
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and has_app_context() and \
            "idp.registry" in current_app.extensions:
        registry().changed()
