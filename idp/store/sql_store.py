"""The embedded short-lived store, kept in the SQL database.

Correct with several worker processes (and hosts sharing the database): single use
relies on `DELETE ... RETURNING`, set-if-absent on the primary key, counters on an
upsert; all three are atomic in SQLite and PostgreSQL.

Redis drops expired keys by itself; here expired rows are deleted by the writes
themselves, at most once every `PURGE_EVERY` seconds per process, and by `idp store
purge`: anonymous visitors (sessions, rate-limit counters) cannot grow the table for
ever.

A set is one row whose value maps each member to its expiry; the row expires with its
last member. Adding a member locks the row first (see `add_member`), so that two
additions at once both count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    String,
    Text,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from idp.extensions import database_unavailable, db, private_sqlite_file, upsert_insert
from idp.store import JSONValue, StoreUnavailable


class ShortLivedEntry(db.Model):
    __tablename__ = "short_lived"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    # Unix time; a float compares the same way in every backend.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


_table = ShortLivedEntry.__table__


PURGE_EVERY = 60.0  # seconds


class SQLStore:
    """Uses its own sessions so that a store call never commits the caller's work.

    `clock` gives the Unix time (tests pass their own to make entries expire)."""

    def __init__(self, session_factory: Callable[[], Session],
                 clock: Callable[[], float] = time.time) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._next_purge = clock() + PURGE_EVERY

    @classmethod
    def on_engine(cls, engine: Engine) -> SQLStore:
        """The store in the main database (its table comes with the migrations)."""
        return cls(sessionmaker(bind=engine, expire_on_commit=False))

    @classmethod
    def sqlite_sidecar(cls, database_url: str) -> SQLStore:
        """The store in its own SQLite file beside the main one (see create_store)."""
        path = Path(database_url.removeprefix("sqlite:///"))
        sidecar = path.with_name(path.stem + "-store.sqlite3")
        private_sqlite_file(sidecar)
        engine = create_engine(f"sqlite:///{sidecar}", hide_parameters=True)
        _table.create(engine, checkfirst=True)
        return cls(sessionmaker(bind=engine, expire_on_commit=False))

    def _run(self, work: Callable[[Session], Any]) -> Any:
        try:
            with self._session_factory() as session, session.begin():
                return work(session)
        except DBAPIError as exc:
            # Busy, locked, read-only, down: the same answer as Redis down (a 503).
            if database_unavailable(exc):
                raise StoreUnavailable(f"SQL store: {exc.orig}") from exc
            raise

    def _write(self, work: Callable[[Session], Any]) -> Any:
        """Run a write, and purge the expired rows when it is time to."""
        if self._clock() >= self._next_purge:
            self._next_purge = self._clock() + PURGE_EVERY
            self.purge_expired()
        return self._run(work)

    def put(self, key: str, value: JSONValue, ttl: int) -> None:
        def work(s: Session) -> None:
            stmt = upsert_insert(_table, s).values(key=key, value=json.dumps(value),
                                     expires_at=self._clock() + ttl)
            s.execute(stmt.on_conflict_do_update(
                index_elements=[_table.c.key],
                set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
            ))

        self._write(work)

    def add(self, key: str, value: JSONValue, ttl: int) -> bool:
        now = self._clock()

        def work(s: Session) -> None:
            s.execute(delete(_table).where(_table.c.key == key, _table.c.expires_at <= now))
            s.execute(insert(_table).values(key=key, value=json.dumps(value),
                                            expires_at=now + ttl))

        try:
            self._write(work)
        except IntegrityError:
            return False
        return True

    def get(self, key: str) -> JSONValue | None:
        def work(s: Session) -> str | None:
            return s.execute(
                select(_table.c.value).where(_table.c.key == key,
                                             _table.c.expires_at > self._clock())
            ).scalar_one_or_none()

        raw = self._run(work)
        return None if raw is None else json.loads(raw)

    def pop(self, key: str) -> JSONValue | None:
        def work(s: Session) -> tuple[str, float] | None:
            row = s.execute(
                delete(_table).where(_table.c.key == key)
                .returning(_table.c.value, _table.c.expires_at)
            ).first()
            return None if row is None else (row[0], row[1])

        row = self._run(work)
        if row is None or row[1] <= self._clock():
            return None
        return json.loads(row[0])

    def _update_live(self, key: str, **values: Any) -> bool:
        def work(s: Session) -> int:
            return s.execute(update(_table).where(
                _table.c.key == key, _table.c.expires_at > self._clock()).values(**values)
            ).rowcount

        return bool(self._write(work))

    def replace(self, key: str, value: JSONValue, ttl: int) -> bool:
        return self._update_live(key, value=json.dumps(value), expires_at=self._clock() + ttl)

    def touch(self, key: str, ttl: int) -> bool:
        return self._update_live(key, expires_at=self._clock() + ttl)

    def delete(self, key: str) -> None:
        self._run(lambda s: s.execute(delete(_table).where(_table.c.key == key)))

    def add_member(self, key: str, member: str, ttl: int) -> None:
        now = self._clock()

        def work(s: Session) -> None:
            # Create the row, or take its lock, before reading it: an upsert locks the row
            # in PostgreSQL and the whole file in SQLite, so a concurrent addition waits
            # here and then reads this one's result (a plain read first would let both
            # read the same set and the second write lose the first member).
            stmt = upsert_insert(_table, s).values(key=key, value="{}", expires_at=now)
            s.execute(stmt.on_conflict_do_update(index_elements=[_table.c.key],
                                                 set_={"expires_at": _table.c.expires_at}))
            raw, expires_at = s.execute(
                select(_table.c.value, _table.c.expires_at).where(_table.c.key == key)).one()
            current = json.loads(raw) if expires_at > now else {}
            live = {m: until for m, until in current.items() if until > now}
            live[member] = max(live.get(member, 0), now + ttl)
            s.execute(update(_table).where(_table.c.key == key).values(
                value=json.dumps(live), expires_at=max(live.values())))

        self._write(work)

    def members(self, key: str) -> list[str]:
        now = self._clock()
        raw = self._run(lambda s: s.execute(select(_table.c.value).where(
            _table.c.key == key, _table.c.expires_at > now)).scalar_one_or_none())
        return [] if raw is None else [m for m, until in json.loads(raw).items() if until > now]

    def incr(self, key: str, ttl: int) -> int:
        now = self._clock()

        def work(s: Session) -> int:
            s.execute(delete(_table).where(_table.c.key == key, _table.c.expires_at <= now))
            stmt = upsert_insert(_table, s).values(key=key, value="1", expires_at=now + ttl)
            # The counter is stored as text like every value; cast to add one.
            stmt = stmt.on_conflict_do_update(
                index_elements=[_table.c.key],
                set_={"value": (_table.c.value.cast(db.Integer) + 1).cast(Text)},
            ).returning(_table.c.value)
            return int(s.execute(stmt).scalar_one())

        return self._write(work)

    def purge_expired(self) -> int:
        return self._run(
            lambda s: s.execute(delete(_table).where(_table.c.expires_at <= self._clock())).rowcount
        )
