"""The directory's enumerations, apart from the models: the rules use them without
loading SQLAlchemy or Flask."""

import enum


class EntityType(enum.StrEnum):
    ET = "ET"    # établissement géographique (FINESS géographique)
    EJ = "EJ"    # entité juridique (FINESS juridique); an OG when it manages >= 2 FINESS
    ARS = "ARS"  # agence régionale de santé
    CD = "CD"    # conseil départemental
    NAT = "NAT"  # national operator (ATIH, CNG...)


class EntityLevel(enum.StrEnum):
    ETABLISSEMENT = "etablissement"
    REGIONAL = "regional"
    NATIONAL = "national"


class AccountState(enum.StrEnum):
    ACTIVE = "actif"
    INACTIVE = "inactif"


class ProfileState(enum.StrEnum):
    PENDING = "en_attente"
    ACTIVE = "actif"
    INACTIVE = "inactif"


class RequestStatus(enum.StrEnum):
    PENDING = "en_attente"
    ACCEPTED = "acceptee"
    REFUSED = "refusee"
    WITHDRAWN = "retiree"  # by the requester, before a decision
