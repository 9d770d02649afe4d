"""The demo directory: valid data, the promised people, idempotent loading."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from idp.core.audit import Actor, AuditEvent
from idp.directory import passwords, rules, services
from idp.directory.demo import demo_data, load_demo
from idp.directory.enums import EntityLevel, EntityType
from idp.directory.identifiers import is_valid_identifier
from idp.directory.models import Account, Entity, Habilitation, Profile, ProfileRequest
from idp.extensions import db
from tests.support import directory as d

ACTOR = Actor(label="test")



def test_demo_data_is_valid_without_a_database() -> None:
    data = demo_data()
    identifiers = [p["identifier"] for p in data["people"]]
    assert len(identifiers) == len(set(identifiers))
    for person in data["people"]:
        assert is_valid_identifier(person["identifier"]), person["identifier"]
        passwords.check_password_policy(person["password"], d.MIN_LENGTH)
    codes = {e.get("finess") or e["code"] for e in data["entities"]}
    assert {p["entity"] for person in data["people"] for p in person["profiles"]} <= codes


def counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(model)) or 0
                 for model in (Entity, Account, Profile, Habilitation, AuditEvent))


def roles_of(identifier: str) -> dict[str, set[str]]:
    """{entity code: {"DOMAIN/ROLE", ...}} of an account's profiles."""
    account = services.get_account(identifier)
    return {p.entity.code: {f"{h.role.domain_code}/{h.role.code}" for h in p.habilitations}
            for p in account.profiles}


def test_demo_is_idempotent_and_keeps_its_promises(app: Flask) -> None:
    first = load_demo(ACTOR, d.MIN_LENGTH)
    db.session.commit()
    after_first = counts()

    second = load_demo(ACTOR, d.MIN_LENGTH)
    db.session.commit()

    assert first.changes > 0 and second.changes == 0
    assert counts() == after_first
    assert [p.identifier for p in second.people] == [p.identifier for p in first.people]

    # Entities of every level; the two OGs are EJs managing several ESMS.
    og_morvan, og_estuaire = services.get_entity("580003010"), services.get_entity("440005015")
    assert services.claimed_entity_type(og_morvan) == "OG"
    assert services.managed_establishments(og_estuaire) >= 2
    for entity in db.session.scalars(select(Entity).where(Entity.type == EntityType.ET)):
        assert entity.region == {"58": "27", "44": "52"}[entity.departement]
    solo = services.get_entity("580000966")
    assert solo.managing_og_id is None
    assert [e.code for e in rules.appointing_entities(solo, services.authority_lookup())] == [
        "ARS27"]
    assert services.get_entity("CNG00SAGA").finess is None
    assert {e.level for e in db.session.scalars(select(Entity))} == set(EntityLevel)

    # The people of the guides.
    assert roles_of("463471") == {"580003028": {"ANCRE/GESTIONNAIRE_FICHIERS"},
                                  "580003036": {"ANCRE/LECTEUR"}}
    director = roles_of("512087")
    assert "TDBESMS/GESTIONNAIRE_FICHIERS" in director["580003010"]
    assert len(director) >= 3  # the OG and some of its ESMS
    assert roles_of("703165") == {"440005031": {"TDBESMS/LECTEUR"}}
    assert roles_of("715938") == {"CNG00SAGA": {"SAGA/DIRECTEUR"}}
    assert "ADMINISTRATION/APE" in roles_of("729608")["ARS27"]
    assert "ADMINISTRATION/APE" in roles_of("740274")["ATIH"]
    assert not any(r.startswith("ANCRE/") for rs in roles_of("753814").values() for r in rs)

    # Exactly one APE on every establishment-level entity with a FINESS, but the SAVS
    # that shows a request routed above an entity without administrator.
    apes = Counter(p.entity.code for p in db.session.scalars(select(Profile))
                   if any(h.role.code == rules.APE for h in p.habilitations))
    for entity in db.session.scalars(select(Entity).where(Entity.finess.is_not(None))):
        assert apes[entity.code] == (0 if entity.code == "580003051" else 1), entity.code

    # A pending request of each kind, each in the queue of the right demo administrator.
    routed = {r.email.split("@")[0]: sorted(e.entity_id for e in r.routes)
              for r in db.session.scalars(select(ProfileRequest))}
    code = {e.id: e.code for e in db.session.scalars(select(Entity))}
    assert {who: [code[i] for i in ids] for who, ids in routed.items()} == {
        "lucie.fabre": ["580003028"], "marion.perrin": ["580003010"],
        "hugo.lemaire": ["ARS27"], "ines.carpentier": ["580003010"]}

    # The legacy profile holding both exclusive ANCRE roles.
    (legacy,) = services.get_account("766543").profiles
    conflicts = rules.exclusive_conflicts(rules.profile_roles(legacy))
    assert [sorted(r.code for r in group) for group in conflicts] == [
        ["GESTIONNAIRE_FICHIERS", "LECTEUR"]]

    # The printed passwords work.
    for person in second.people:
        assert services.authenticate(person.identifier, person.password) is not None


def test_reset_passwords_restores_a_changed_demo_password(sqlite_app: Flask) -> None:
    result = load_demo(ACTOR, d.MIN_LENGTH)
    camille = services.get_account("463471")
    services.set_password(camille, "Un-autre-mot-de-passe-1", ACTOR, d.MIN_LENGTH)
    db.session.commit()

    assert load_demo(ACTOR, d.MIN_LENGTH).changes == 0  # left alone by default
    assert load_demo(ACTOR, d.MIN_LENGTH, reset_passwords=True).changes == 1
    db.session.commit()

    password = next(p.password for p in result.people if p.identifier == "463471")
    assert services.authenticate("463471", password) is not None
