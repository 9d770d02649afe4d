"""Flask extensions, created unbound and initialised by `create_app`."""

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, MetaData, Table, TypeDecorator, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session

# Stable constraint names so that Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


# A pooled connection unused for longer than this is checked before it serves again.
PING_AFTER_IDLE = 1.0


def ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use (one `SELECT 1`) when it sat unused for more
    than PING_AFTER_IDLE seconds: one that the server dropped (a restart, a failover, a
    firewall's idle timeout) is replaced before a request meets it. Under load the
    connections come back within milliseconds and no request pays that round trip, as
    each would with `pool_pre_ping`. A connection lost while busy fails its request (a
    503, "réessayez") and SQLAlchemy then replaces every connection of the pool."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_from", 0.0) <= PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever the driver says: this one cannot serve
            raise DisconnectionError() from error
        if not alive:
            raise DisconnectionError()  # the pool opens a new connection instead


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL keeps the zone, SQLite does not: values read back from SQLite are naive
    and would not compare with aware ones, so they are marked as UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def private_sqlite_file(path: Path) -> None:
    """Create (or narrow) an SQLite database file readable by its owner only: it holds
    password hashes and sessions. SQLite gives its -wal and -shm files the database
    file's permissions, so they follow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def upsert_insert(table: Table, session: Session) -> PgInsert | SqliteInsert:
    """INSERT with ON CONFLICT support, in the session's dialect (SQLite or PostgreSQL).

    Both dialects' statements offer `.on_conflict_do_update()`, `.on_conflict_do_nothing()`
    and `.excluded` with the same meaning, so callers need not know which one they got.
    """
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


# SQLite says why it cannot serve in words: busy, locked, read-only, disk full or gone.
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "readonly database",
                       "unable to open database file", "disk I/O error",
                       "database or disk is full")


def database_unavailable(exc: DBAPIError) -> bool:
    """A database that cannot serve now (does not answer, is busy, refuses writes), as
    opposed to a failing query: the first is a 503 (try again), the second a bug."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if type(exc.orig).__module__.startswith("psycopg"):
        if not sqlstate:  # the connection failed, or psycopg refused a value itself
            return isinstance(exc, OperationalError | InterfaceError)
        # 08: connection exception; 57P: the server is shutting down; 53: out of disk,
        # memory or connections; 25006: a read-only transaction (a standby, a database
        # set default_transaction_read_only).
        return sqlstate.startswith(("08", "57P", "53", "25006"))
    return any(words in str(exc.orig) for words in _SQLITE_UNAVAILABLE)
