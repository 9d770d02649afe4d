"""The benchmark's directory builder (`python -m bench build`) fills a database as the
application would have: valid identifiers and FINESS numbers, one active profile and
one role per account, the folded search column, an administrator with his queue, and
(on PostgreSQL) sequences that go on after the rows it numbered itself."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from bench import builder
from bench.world import PASSWORD
from idp.core.paging import Cursor
from idp.directory import requests, rules, services
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import EntityType, ProfileState
from idp.directory.identifiers import is_valid_identifier, validate_finess
from idp.directory.models import Account, Entity, Habilitation, Profile, ProfileRequest
from idp.directory.passwords import verify_password
from idp.extensions import db

ACCOUNTS, ENTITIES = 2000, 300


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_the_builder_fills_a_directory_the_application_can_use(app: Flask) -> None:
    load_catalogue(builder.ACTOR)
    db.session.commit()

    built = builder.build_directory(ACCOUNTS, ENTITIES, PASSWORD, quiet=True)

    assert count(Entity) == ENTITIES + 1 and count(Account) == ACCOUNTS + 1
    assert count(Profile) == count(Habilitation) == ACCOUNTS + 1
    assert count(ProfileRequest) == ACCOUNTS // builder.REQUESTS_EVERY + builder.OWN_QUEUE
    identifiers = list(db.session.scalars(select(Account.identifier)))
    assert len(set(identifiers)) == len(identifiers)
    assert all(is_valid_identifier(i) for i in identifiers)
    for entity in db.session.scalars(select(Entity).where(Entity.finess.is_not(None))):
        assert validate_finess(entity.finess or "") == entity.finess
        if entity.type == EntityType.ET:
            assert entity.parent is not None and entity.parent.type == EntityType.EJ
    assert all(p.state == ProfileState.ACTIVE and len(p.habilitations) == 1
               for p in db.session.scalars(select(Profile).limit(50)))
    someone = db.session.scalars(select(Account).where(Account.id > 1000)).first()
    assert someone is not None and verify_password(someone.password_hash or "", PASSWORD)

    # The « Entité » field finds them, folded.
    found = requests.search_entities("saint etienne", limit=500)
    assert found and all(e.city == "Saint-Étienne" for e in found)
    assert len(found) == db.session.scalar(select(func.count()).select_from(Entity).where(
        Entity.city == "Saint-Étienne"))

    # The administrator's queue holds his entity's requests, whatever else there is.
    admin = db.session.scalar(select(Account).where(Account.identifier == built.administrator))
    assert admin is not None
    assert rules.may_administer(admin.profiles, admin.profiles[0].entity_id)
    mine = requests.administered_entities(admin.profiles)
    page, total = requests.queue_page(mine, requests.QueueFilter(), Cursor(), 50)
    assert total == builder.OWN_QUEUE and len(page.rows) == 50 and page.after

    # Rows added afterwards get fresh ids.
    services.create_account(given_name="Après", family_name="Construction",
                            email="apres@example.test", actor=builder.ACTOR,
                            password_min_length=8)
    db.session.commit()
    assert count(Account) == ACCOUNTS + 2
