"""Who may consult, enter and validate what in the Tableau de bord (TdB ESMS guide).

The guide's table, as data ("Quels sont ses droits sur Plage ?"):

    Compte Profil       Consultation           Saisie – modification    Validation
    OG     Gestionnaire OUI (données OG et     PARTIEL (données OG et   PARTIEL (uniquement
                        données de ses ESMS)   certaines données de     les données qu'il a
                                               ses ESMS en subsidiarité) saisies)
    OG     Lecteur      OUI (idem)             NON                      NON
    ESMS   Gestionnaire OUI (données propres)  OUI (données propres)    OUI (données propres)
    ESMS   Lecteur      OUI (données propres)  NON                      NON

The row comes from the token's claims: the entity type (`OG`, or `ET` for an ESMS) and
the TDBESMS role (Gestionnaire de fichiers, Lecteur). Regional and national profiles
(ARS, CD, NAT) are outside the guide's table; the demo lets them consult the ESMS of
their territory, read-only. Plain functions: no Flask, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp.rp import Identity

DOMAIN = "TDBESMS"
ROLE_PROFILES = {"GESTIONNAIRE_FICHIERS": "Gestionnaire", "LECTEUR": "Lecteur"}
ALLOWED_ENTITY_TYPES = ("OG", "ET", "ARS", "CD", "NAT")  # "OG, ESMS, ARS, CD, NATIONAL"
ACCOUNT_OF_TYPE = {"OG": "OG", "ET": "ESMS", "ARS": "ARS", "CD": "CD", "NAT": "NATIONAL"}


class Access(StrEnum):
    OUI = "OUI"
    PARTIEL = "PARTIEL"
    NON = "NON"


@dataclass(frozen=True)
class Right:
    access: Access
    scope: str = ""  # the guide's words in brackets

    def __str__(self) -> str:
        return f"{self.access} ({self.scope})" if self.scope else str(self.access)


@dataclass(frozen=True)
class RightsRow:
    account: str  # "OG", "ESMS" (and, beyond the guide, "ARS", "CD", "NATIONAL")
    profile: str  # "Gestionnaire", "Lecteur"
    consultation: Right
    saisie: Right
    validation: Right


_OG_DATA = "données OG et données de ses ESMS"
_OWN_DATA = "données propres"
_TERRITORY = "données des ESMS de son territoire"
NO = Right(Access.NON)

RIGHTS_TABLE: tuple[RightsRow, ...] = (
    RightsRow("OG", "Gestionnaire", Right(Access.OUI, _OG_DATA),
              Right(Access.PARTIEL, "données OG et certaines données de ses ESMS en "
                                    "subsidiarité"),
              Right(Access.PARTIEL, "uniquement les données qu'il a saisies")),
    RightsRow("OG", "Lecteur", Right(Access.OUI, _OG_DATA), NO, NO),
    RightsRow("ESMS", "Gestionnaire", Right(Access.OUI, _OWN_DATA),
              Right(Access.OUI, _OWN_DATA), Right(Access.OUI, _OWN_DATA)),
    RightsRow("ESMS", "Lecteur", Right(Access.OUI, _OWN_DATA), NO, NO),
)
AUTHORITY_ROWS: tuple[RightsRow, ...] = tuple(
    RightsRow(account, profile, Right(Access.OUI, _TERRITORY), NO, NO)
    for account in ("ARS", "CD", "NATIONAL") for profile in ("Gestionnaire", "Lecteur")
)


@dataclass(frozen=True)
class Structure:
    """An OG or an ESMS of the campaign, as the TdB's own referential knows it."""

    finess: str
    name: str
    kind: str  # "OG" or "ESMS"
    og_finess: str | None = None
    departement: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Indicator:
    code: str
    axis: str
    label: str
    kind: str  # "OG" (fiche d'identité, caractérisation) or "ESMS"
    subsidiarity: bool = False  # an OG may enter it for its ESMS


@dataclass(frozen=True)
class Viewer:
    """The profile chosen at login, as the TdB sees it."""

    row: RightsRow
    entity_id: str
    departement: str | None = None
    region: str | None = None

    @classmethod
    def of(cls, identity: Identity) -> Viewer | None:
        """None when the profile has no TDBESMS role on an entity the TdB knows."""
        account = ACCOUNT_OF_TYPE.get(identity.entity_type or "")
        roles = [ROLE_PROFILES[r] for r in identity.roles_in(DOMAIN) if r in ROLE_PROFILES]
        if account is None or not roles:
            return None
        # Both exclusive roles (data older than the rules): the lesser one applies.
        profile = "Lecteur" if "Lecteur" in roles else "Gestionnaire"
        row = next(r for r in RIGHTS_TABLE + AUTHORITY_ROWS
                   if (r.account, r.profile) == (account, profile))
        entity = identity.entity
        return cls(row, str(entity.get("finess") or entity.get("id") or ""),
                   entity.get("departement"), entity.get("region"))

    @property
    def entered_by(self) -> str:
        """How data this viewer enters is marked (the OG, or the ESMS itself)."""
        return self.row.account


def can_consult(viewer: Viewer, structure: Structure) -> bool:
    account = viewer.row.account
    if account == "OG":
        return viewer.entity_id in (structure.finess, structure.og_finess)
    if account == "ESMS":
        return viewer.entity_id == structure.finess
    if account == "ARS":
        return structure.region is not None and structure.region == viewer.region
    if account == "CD":
        return structure.departement is not None and structure.departement == viewer.departement
    return account == "NATIONAL"


def can_enter(viewer: Viewer, structure: Structure, indicator: Indicator) -> bool:
    """Saisie – modification."""
    if viewer.row.saisie.access == Access.NON or indicator.kind != structure.kind:
        return False
    if viewer.row.account == "OG":
        if structure.finess == viewer.entity_id:
            return True  # its fiche d'identité and caractérisation
        return structure.og_finess == viewer.entity_id and indicator.subsidiarity
    return viewer.row.account == "ESMS" and structure.finess == viewer.entity_id


def can_validate(viewer: Viewer, structure: Structure, entered_by: str | None) -> bool:
    """Validation of a value entered by `entered_by` ("OG" or "ESMS")."""
    if viewer.row.validation.access == Access.NON or entered_by is None:
        return False
    if viewer.row.account == "OG":  # only the data it entered itself
        return can_consult(viewer, structure) and entered_by == "OG"
    return viewer.row.account == "ESMS" and structure.finess == viewer.entity_id
