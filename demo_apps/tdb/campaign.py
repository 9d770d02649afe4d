"""The TdB's campaign data: its referential of structures, the indicators, the values.

The indicators an OG may enter for its ESMS ("en subsidiarité") are those the guide
lists (axes 2, 3 and 4); the others are entered by the ESMS only.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Boolean, DateTime, String, UniqueConstraint, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from demo_apps.tdb.rights import Indicator, Structure

DATA = Path(__file__).resolve().parent / "data.toml"
_AXIS1 = "Axe 1 : prestations de soins et d'accompagnement"
_AXIS2 = "Axe 2 : ressources humaines"
_AXIS3 = "Axe 3 : finances et budget"
_AXIS4 = "Axe 4 : objectifs (« système d'information » au sein de l'ESMS)"

INDICATORS: tuple[Indicator, ...] = (
    Indicator("og_siege", "Fiche d'identité de l'OG", "Siège social autorisé (oui/non)",
              "OG"),
    Indicator("og_etp", "Caractérisation de l'OG", "Effectif total de l'organisme (ETP)",
              "OG"),
    Indicator("taux_occupation", _AXIS1, "Taux d'occupation des places (%)", "ESMS"),
    Indicator("taux_absenteisme", _AXIS2, "Taux d'absentéisme (%)", "ESMS"),
    Indicator("effectifs_fonction", _AXIS2, "Répartition des effectifs par fonction", "ESMS",
              subsidiarity=True),
    Indicator("taux_caf", _AXIS3, "Taux de CAF en %", "ESMS", subsidiarity=True),
    Indicator("taux_endettement", _AXIS3, "Taux d'endettement en %", "ESMS",
              subsidiarity=True),
    Indicator("domaines_si", _AXIS4, "Domaines couverts par le SI de l'ESMS", "ESMS",
              subsidiarity=True),
)
INDICATOR_BY_CODE = {i.code: i for i in INDICATORS}


class Base(DeclarativeBase):
    pass


class StructureRow(Base):
    __tablename__ = "tdb_structures"

    finess: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(4))
    og_finess: Mapped[str | None] = mapped_column(String(9), index=True)
    departement: Mapped[str | None] = mapped_column(String(3))
    region: Mapped[str | None] = mapped_column(String(2))

    def as_structure(self) -> Structure:
        return Structure(self.finess, self.name, self.kind, self.og_finess,
                         self.departement, self.region)


class Value(Base):
    __tablename__ = "tdb_valeurs"
    __table_args__ = (UniqueConstraint("finess", "indicator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    finess: Mapped[str] = mapped_column(String(9))
    indicator: Mapped[str] = mapped_column(String(50))
    value: Mapped[str] = mapped_column(String(255))
    entered_by: Mapped[str] = mapped_column(String(8))  # "OG" or "ESMS"
    validated: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=lambda: datetime.now(UTC).replace(tzinfo=None))


def setup(engine: Engine) -> None:
    """Create the TdB's tables; load the referential and the first values once."""
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        if session.scalar(select(func.count()).select_from(StructureRow)):
            return
        with DATA.open("rb") as fh:
            data = tomllib.load(fh)
        session.add_all(StructureRow(**row) for row in data["structures"])
        session.add_all(Value(**row) for row in data["values"])


def structures(session: Session) -> list[Structure]:
    rows = session.scalars(select(StructureRow).order_by(StructureRow.kind.desc(),
                                                         StructureRow.finess))
    return [row.as_structure() for row in rows]


def structure(session: Session, finess: str) -> Structure | None:
    row = session.get(StructureRow, finess)
    return row.as_structure() if row else None


def values_of(session: Session, finess: str) -> dict[str, Value]:
    return {v.indicator: v for v in session.scalars(select(Value).where(
        Value.finess == finess))}


def enter(session: Session, finess: str, indicator: str, value: str, by: str) -> None:
    """Enter or change a value: it is to be validated again."""
    row = session.scalar(select(Value).where(Value.finess == finess,
                                             Value.indicator == indicator))
    if row is None:
        row = Value(finess=finess, indicator=indicator)
        session.add(row)
    row.value, row.entered_by, row.validated = value, by, False
    row.updated_at = datetime.now(UTC).replace(tzinfo=None)


def validate(session: Session, row: Value) -> None:
    row.validated = True
