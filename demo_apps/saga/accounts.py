"""SAGA's own accounts (directors' files) and the kit's pairing hooks.

An account is provisioned by the CNG with the director's email; at the first login the
PLAGE identity is paired with every unpaired account bearing its email. When none
exists, the account is created only if `create_accounts` is on; otherwise the pairing is
impossible (the guide's "Message d'appairage PLAGE-SAGA impossible").
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

from flask import current_app
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from demo_apps.base import ENGINE_KEY, database
from idp.rp import Identity, LocalAccount, PlageRP
from idp.rp.pairing import owner_of

DATA = Path(__file__).resolve().parent / "data.toml"


class Base(DeclarativeBase):
    pass


class SagaAccount(Base):
    __tablename__ = "saga_comptes"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    structure: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(100))
    arretes: Mapped[list[Arrete]] = relationship(order_by="Arrete.signed_on.desc()",
                                                 lazy="selectin")

    def as_local_account(self) -> LocalAccount:
        return LocalAccount(key=str(self.id), label=self.structure, detail=self.role)


class Arrete(Base):
    __tablename__ = "saga_arretes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("saga_comptes.id"))
    reference: Mapped[str] = mapped_column(String(100))
    signed_on: Mapped[date]


def setup(engine: Engine) -> None:
    """Create SAGA's tables; provision the demo accounts once."""
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        if session.scalar(select(func.count()).select_from(SagaAccount)):
            return
        with DATA.open("rb") as fh:
            for row in tomllib.load(fh)["comptes"]:
                account = SagaAccount(**{k: v for k, v in row.items() if k != "arretes"})
                account.arretes = [Arrete(reference=a["reference"], signed_on=a["date"])
                                   for a in row["arretes"]]
                session.add(account)


def get_account(session: Session, key: str) -> SagaAccount | None:
    return session.get(SagaAccount, int(key)) if key.isdigit() else None


def install_hooks(plage: PlageRP) -> None:
    """SAGA's answers to the kit: how accounts are found at pairing, and shown."""

    @plage.local_accounts_finder
    def find_accounts(identity: Identity) -> list[LocalAccount]:
        engine = current_app.extensions[ENGINE_KEY]
        with database() as session:
            invited = [a for a in session.scalars(
                select(SagaAccount).where(
                    func.lower(SagaAccount.email) == (identity.email or "").lower()))
                       if owner_of(engine, str(a.id)) is None]
            if not invited and identity.email and current_app.config["DEMO"][
                    "create_accounts"]:
                account = SagaAccount(email=identity.email, given_name=identity.given_name,
                                      family_name=identity.family_name,
                                      structure=str(identity.entity.get("id", "")),
                                      role="Directeur")
                session.add(account)
                session.flush()
                invited = [account]
            return [a.as_local_account() for a in invited]

    @plage.local_account_loader
    def load_account(key: str) -> LocalAccount | None:
        with database() as session:
            account = get_account(session, key)
            return account.as_local_account() if account else None
