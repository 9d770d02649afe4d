"""The kit's tables, in the relying application's own database.

- `plage_rp_sessions`: server-side sessions. The cookie holds a random id, the table its
  SHA-256, the data and the provider's `sid` and `sub`, so that a back-channel logout
  finds and ends the sessions of a provider session.
- `plage_rp_pairings`: which local account(s) a PLAGE identifier (`sub`) is paired with.
  A local account belongs to one person: it is paired with one identifier at most.

`create_tables(engine)` creates them; an application with Alembic migrations adds
`metadata` to its `target_metadata` instead.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

sessions = Table(
    "plage_rp_sessions", metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the cookie value
    Column("data", JSON, nullable=False),
    Column("sub", String(64), index=True),
    Column("sid", String(128), index=True),
    Column("expires_at", Float, nullable=False, index=True),  # epoch seconds
)

pairings = Table(
    "plage_rp_pairings", metadata,
    Column("id", Integer, primary_key=True),
    Column("sub", String(64), nullable=False, index=True),
    Column("local_account", String(255), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),  # naive UTC
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)
