"""First-login pairing: a PLAGE identifier (`sub`) ↔ the application's local account(s).

The application says how local accounts are found (an invitation matched by email, an
account created on the fly...) through a hook of the extension; this module stores and
reads the pairings. Plain functions on an SQLAlchemy engine: the extension's pages, the
`flask plage` commands and an application's own administration pages all call them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from idp.rp.errors import PairingConflict
from idp.rp.models import pairings


@dataclass(frozen=True)
class LocalAccount:
    """An account of the relying application, as the account chooser shows it."""

    key: str  # the application's id for it (stored in the pairing)
    label: str  # e.g. "CNG00SAGA"
    detail: str = ""  # e.g. "Directeur"


@dataclass(frozen=True)
class Pairing:
    sub: str
    local_account: str
    created_at: datetime


def paired_accounts(engine: Engine, sub: str) -> list[str]:
    """Keys of the local accounts paired with `sub`, oldest pairing first."""
    with engine.connect() as conn:
        return list(conn.scalars(
            select(pairings.c.local_account).where(pairings.c.sub == sub)
            .order_by(pairings.c.id)))


def owner_of(engine: Engine, local_account: str) -> str | None:
    """The PLAGE identifier a local account is paired with, if any."""
    with engine.connect() as conn:
        return conn.scalar(select(pairings.c.sub)
                           .where(pairings.c.local_account == local_account))


def pair(engine: Engine, sub: str, keys: Iterable[str]) -> None:
    """Pair `sub` with each local account of `keys` (already paired with `sub`: kept).

    Raises PairingConflict, pairing none of them, if one is paired with someone else.
    """
    wanted = list(dict.fromkeys(keys))
    with engine.begin() as conn:
        owners = dict(conn.execute(
            select(pairings.c.local_account, pairings.c.sub)
            .where(pairings.c.local_account.in_(wanted))).all())
        taken = [key for key, owner in owners.items() if owner != sub]
        if taken:
            raise PairingConflict(f"local account(s) already paired: {', '.join(taken)}")
        now = datetime.now(UTC).replace(tzinfo=None)
        for key in wanted:
            if key not in owners:
                conn.execute(insert(pairings).values(sub=sub, local_account=key,
                                                     created_at=now))


def unpair(engine: Engine, sub: str, local_account: str | None = None) -> int:
    """Remove the pairings of `sub` (or only the one with `local_account`); how many.

    The person is asked to pair again at the next login."""
    query = delete(pairings).where(pairings.c.sub == sub)
    if local_account is not None:
        query = query.where(pairings.c.local_account == local_account)
    with engine.begin() as conn:
        return conn.execute(query).rowcount


def list_pairings(engine: Engine, sub: str | None = None) -> list[Pairing]:
    query = select(pairings.c.sub, pairings.c.local_account, pairings.c.created_at)
    if sub is not None:
        query = query.where(pairings.c.sub == sub)
    with engine.connect() as conn:
        return [Pairing(*row) for row in conn.execute(query.order_by(pairings.c.id))]
