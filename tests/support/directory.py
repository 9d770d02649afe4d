"""Builders for the tests: a small directory as in the guides, a registered client."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from idp.clients.models import Client, hash_client_secret
from idp.config import DEFAULTS
from idp.core.audit import Actor
from idp.directory import services
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import EntityType, ProfileState
from idp.directory.identifiers import luhn_check_digit
from idp.directory.models import Account, Entity, Profile
from idp.extensions import db
from idp.keys import service as keys

PASSWORD = "Mot-de-passe-2026!"
# The policy's default minimum length, read from the one place that sets it.
MIN_LENGTH = DEFAULTS["security"]["password_min_length"]
ACTOR = Actor(label="test")


def finess(body: str) -> str:
    """A valid FINESS from its first eight characters."""
    return body + luhn_check_digit(body)


def entity(code: str, type_: EntityType, name: str, *, finess_number: str | None = None,
           departement: str | None = None, region: str | None = None,
           managing_og: Entity | None = None, parent: Entity | None = None) -> Entity:
    row = Entity(code=code, finess=finess_number, type=type_, name=name,
                 departement=departement, region=region, managing_og=managing_og,
                 parent=parent)
    db.session.add(row)
    db.session.flush()
    return row


def account(given: str, family: str, email: str | None = None) -> Account:
    return services.create_account(given_name=given, family_name=family,
                                   email=email or f"{given}.{family}@example.test".lower(),
                                   password=PASSWORD, actor=ACTOR,
                                   password_min_length=MIN_LENGTH)


def profile(owner: Account, on: Entity, label: str, *roles: str,
            state: ProfileState = ProfileState.ACTIVE) -> Profile:
    row = services.create_profile(owner, on, label=label, state=state, actor=ACTOR)
    for role in roles:
        domain, code = role.split("/")
        services.grant(row, services.get_role(domain, code), ACTOR)
    return row


def slug(text: str) -> str:
    """ASCII, lower-case, dashes: client ids as the registry makes them."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text.lower()).split())


def client(name: str, domains: list[str], redirect_uris: list[str], *, public: bool = False,
           first_party: bool = True, **extra: Any) -> tuple[Client, str | None]:
    secret = None if public else secrets.token_urlsafe(32)
    row = Client(
        client_id=f"{slug(name)}-{secrets.token_hex(3)}",
        client_secret_hash=hash_client_secret(secret) if secret else None,
        name=name, domains=domains, redirect_uris=redirect_uris,
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        first_party=first_party, **extra,
    )
    db.session.add(row)
    db.session.flush()
    return row, secret


@dataclass
class AncreWorld:
    """The ANCRE guide's example: one person, profile A on establishment X with
    Gestionnaire de fichiers, profile B on establishment Y with Lecteur."""

    ars: Entity
    og: Entity
    etab_x: Entity
    etab_y: Entity
    person: Account
    profile_x: Profile
    profile_y: Profile
    ape: Account
    outsider: Account
    extras: dict[str, Any] = field(default_factory=dict)


def ancre_world() -> AncreWorld:
    load_catalogue(ACTOR)
    keys.ensure_keys("test-passphrase", ACTOR)
    ars = entity("ARS27", EntityType.ARS, "ARS Bourgogne-Franche-Comté", region="27")
    og = entity(finess("25001181"), EntityType.EJ, "Association Les Tilleuls",
                finess_number=finess("25001181"), departement="25", region="27")
    etab_x = entity(finess("25000001"), EntityType.ET, "EHPAD Les Tilleuls",
                    finess_number=finess("25000001"), departement="25", region="27",
                    managing_og=og, parent=og)
    etab_y = entity(finess("25000002"), EntityType.ET, "EHPAD Le Verger",
                    finess_number=finess("25000002"), departement="25", region="27",
                    managing_og=og, parent=og)
    person = account("Élodie", "Martin")
    profile_x = profile(person, etab_x, "Directrice EHPAD Les Tilleuls",
                        "ANCRE/GESTIONNAIRE_FICHIERS", "TDBESMS/GESTIONNAIRE_FICHIERS")
    profile_y = profile(person, etab_y, "Directrice EHPAD Le Verger", "ANCRE/LECTEUR")
    ape = account("Paul", "Durand")
    profile(ape, etab_x, "APE EHPAD Les Tilleuls", "ADMINISTRATION/APE")
    outsider = account("Jeanne", "Petit")
    profile(outsider, etab_x, "Secrétariat", "SCANSANTE/LECTEUR")
    db.session.commit()
    return AncreWorld(ars, og, etab_x, etab_y, person, profile_x, profile_y, ape, outsider)
