"""The demo directory: entities of every level and people with fixed identifiers.

The data is `data/demo.toml`; this module only applies it. Loading is idempotent: what
exists is kept, what is missing is created, nothing is ever duplicated. The passwords of
existing demo accounts are left alone unless `reset_passwords` is set (checking them
costs one argon2 verification each, and a second run should be quick).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sqlalchemy import select

from idp.core.audit import Actor, record
from idp.directory import requests, services
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import ProfileState
from idp.directory.importer import EntityRow, upsert_entities
from idp.directory.models import Account, Habilitation, Profile, ProfileRequest, Role
from idp.directory.passwords import verify_password
from idp.extensions import db


@dataclass
class DemoProfile:
    label: str
    entity: str
    entity_name: str
    roles: list[str]


@dataclass
class DemoPerson:
    identifier: str
    password: str
    name: str
    email: str
    note: str
    profiles: list[DemoProfile] = field(default_factory=list)


@dataclass
class DemoResult:
    people: list[DemoPerson]
    # How many things were created or fixed; 0 when the demo was already loaded.
    changes: int


def demo_data() -> dict[str, Any]:
    text = resources.files("idp.directory").joinpath("data/demo.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_demo(actor: Actor, password_min_length: int, *,
              reset_passwords: bool = False) -> DemoResult:
    """Load the catalogue and the demo directory; the caller commits."""
    data = demo_data()
    load_catalogue(actor)
    imported = upsert_entities([EntityRow(line, {k: str(v) for k, v in entity.items()})
                                for line, entity in enumerate(data["entities"], 1)])
    changes = imported.created + imported.updated
    people = []
    for spec in data["people"]:
        person, changed = _ensure_person(spec, actor, password_min_length, reset_passwords)
        people.append(person)
        changes += changed
    changes += sum(_ensure_request(spec, actor) for spec in data.get("requests", []))
    if changes:
        record(actor, "demo.load", changes=changes, people=len(people))
    return DemoResult(people=people, changes=changes)


def _ensure_person(spec: dict[str, Any], actor: Actor, min_length: int,
                   reset_password: bool) -> tuple[DemoPerson, int]:
    changes = 0
    account = db.session.scalar(select(Account).where(Account.identifier == spec["identifier"]))
    if account is None:
        account = services.create_account(
            identifier=spec["identifier"], given_name=spec["given_name"],
            family_name=spec["family_name"], email=spec["email"], password=spec["password"],
            actor=actor, password_min_length=min_length,
        )
        account.email_verified = True
        changes += 1
    elif reset_password and not verify_password(account.password_hash, spec["password"]):
        services.set_password(account, spec["password"], actor, min_length)
        changes += 1
    person = DemoPerson(identifier=account.identifier, password=spec["password"],
                        name=account.full_name, email=account.email, note=spec.get("note", ""))
    for profile_spec in spec["profiles"]:
        profile, changed = _ensure_profile(account, profile_spec, actor)
        changes += changed
        person.profiles.append(DemoProfile(
            label=profile.label, entity=profile.entity.code, entity_name=profile.entity.name,
            roles=sorted(f"{h.role.domain_code}/{h.role.code}" for h in profile.habilitations),
        ))
    return person, changes


def _ensure_profile(account: Account, spec: dict[str, Any], actor: Actor) -> tuple[Profile, int]:
    changes = 0
    entity = services.get_entity(spec["entity"])
    profile = db.session.scalar(select(Profile).where(
        Profile.account_id == account.id, Profile.entity_id == entity.id,
        Profile.label == spec["label"]))
    if profile is None:
        profile = services.create_profile(account, entity, label=spec["label"],
                                          state=ProfileState.ACTIVE, actor=actor)
        changes += 1
    held = {h.role_id for h in profile.habilitations}
    for role in map(_role, spec.get("roles", [])):
        if role.id not in held:
            services.grant(profile, role, actor)
            changes += 1
    for role in map(_role, spec.get("legacy_roles", [])):
        if role.id not in held:
            # Deliberately bypasses services.grant (which refuses exclusive roles): this
            # stands for data written before the rule existed, which the login must
            # detect and explain rather than crash on or silently accept.
            db.session.add(Habilitation(profile=profile, role=role))
            changes += 1
    db.session.flush()
    return profile, changes


def _ensure_request(spec: dict[str, Any], actor: Actor) -> int:
    """File a newcomer's pending request once (kept whatever became of it since)."""
    entity = services.get_entity(spec["entity"])
    if db.session.scalar(select(ProfileRequest.id).where(
            ProfileRequest.entity_id == entity.id, ProfileRequest.email == spec["email"])):
        return 0
    requests.submit(entity, requests.RequestDetails(
        given_name=spec["given_name"], family_name=spec["family_name"], email=spec["email"],
        label=spec["label"], applications=spec["applications"], wants_ape=spec["wants_ape"],
        phone=spec.get("phone"), comment=spec.get("comment")), actor)
    return 1


def _role(qualified: str) -> Role:
    domain, _, role = qualified.partition("/")
    return services.get_role(domain, role)
