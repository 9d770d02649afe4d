"""The directory side of the national administration: the SQL list of the entities one
appoints agrees with the rule (`rules.appointing_entities`) for every pair, what an
administrator oversees, an entity saved through the import's checks, the catalogue's
checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import select

from idp.core.errors import RuleViolation
from idp.core.paging import Cursor
from idp.directory import catalogue, entities, rules, services
from idp.directory.enums import AccountState, EntityType, ProfileState
from idp.directory.models import Entity
from idp.extensions import db
from tests.support import directory as d


def test_the_appointed_list_agrees_with_the_rule_for_every_pair(app: Flask) -> None:
    world = d.ancre_world()
    d.entity("ATIH", EntityType.NAT, "ATIH")
    d.entity("ARS52", EntityType.ARS, "ARS Pays de la Loire", region="52")
    d.entity("CD58", EntityType.CD, "CD de la Nièvre", departement="58", region="27")
    d.entity("ET58", EntityType.ET, "EHPAD de Nevers", departement="58", region="27")
    d.entity("ET44", EntityType.ET, "EHPAD de Nantes", departement="44", region="52")
    d.entity("ET976", EntityType.ET, "EHPAD de Mamoudzou", departement="976", region="06")
    d.entity("EJ25", EntityType.EJ, "EJ autonome", departement="25", region="27",
             managing_og=world.og)
    db.session.commit()
    every = list(db.session.scalars(select(Entity)))
    lookup = services.authority_lookup()

    for appointer in every:
        listed = set(db.session.scalars(entities.appointed_by([appointer])
                                        .with_only_columns(Entity.id)))
        by_rule = {e.id for e in every
                   if appointer.id in {a.id for a in rules.appointing_entities(e, lookup)}}
        assert listed == by_rule, appointer.code
    mayotte = db.session.scalar(select(Entity).where(Entity.code == "ET976"))
    assert [e.code for e in rules.appointing_entities(mayotte, lookup)] == ["ATIH"]


@dataclass
class _Entity:
    id: int
    type: EntityType
    region: str | None = None
    departement: str | None = None
    managing_og_id: int | None = None


@dataclass
class _Role:
    domain_code: str
    code: str
    label: str = ""
    exclusive_group: str | None = None


@dataclass
class _Habilitation:
    role: _Role


@dataclass
class _Account:
    state: AccountState = AccountState.ACTIVE


@dataclass
class _Profile:
    id: int
    entity_id: int
    roles: list[str]
    state: ProfileState = ProfileState.ACTIVE
    account: _Account = field(default_factory=_Account)

    @property
    def habilitations(self) -> list[_Habilitation]:
        return [_Habilitation(_Role(rules.ADMINISTRATION, code)) for code in self.roles]


def test_what_an_administrator_oversees() -> None:
    places = {1: _Entity(1, EntityType.NAT), 2: _Entity(2, EntityType.ARS, region="27"),
              3: _Entity(3, EntityType.CD, departement="58", region="27"),
              4: _Entity(4, EntityType.ET, departement="58", region="27")}
    admin = [rules.ADMINISTRATEUR]
    assert rules.oversight([_Profile(1, 1, admin)], places).national
    regional = rules.oversight([_Profile(1, 2, admin), _Profile(2, 3, [rules.APE])], places)
    assert (regional.national, regional.regions, regional.departements) == (
        False, frozenset({"27"}), frozenset({"58"}))
    assert regional.covers(places[4])
    # Not an administrator, an inactive profile, an establishment: nothing overseen.
    assert not rules.oversight([_Profile(1, 1, [])], places)
    assert not rules.oversight([_Profile(1, 2, admin, ProfileState.INACTIVE)], places)
    assert not rules.oversight([_Profile(1, 4, admin)], places)


def test_an_entity_is_saved_with_the_checks_of_the_import(app: Flask) -> None:
    world = d.ancre_world()
    number = d.finess("25000003")
    saved = entities.save_entity({"finess": number, "type": "ET", "name": "Foyer",
                                  "finess_ej": world.og.code}, d.ACTOR)
    db.session.commit()
    # A third establishment of the EJ: it is their managing OG (the import's rule).
    assert (saved.departement, saved.region, saved.managing_og_id) == ("25", "27", world.og.id)

    with pytest.raises(entities.EntityRejected) as caught:
        entities.save_entity({"type": "CD", "name": "CD sans département", "code": "CDX"},
                             d.ACTOR)
    assert caught.value.problems == {"departement": ["Un CD a besoin de son département."]}
    db.session.rollback()
    with pytest.raises(entities.EntityRejected):
        entities.save_entity({"finess": number, "type": "ET", "name": "Doublon"}, d.ACTOR)
    db.session.rollback()
    entities.set_active(saved, False, d.ACTOR)
    with pytest.raises(RuleViolation):
        entities.set_active(saved, False, d.ACTOR)


@pytest.mark.parametrize(("kwargs", "field_name"), [
    ({"domain_code": "ANCRE", "code": "", "label": "X"}, "role"),
    ({"domain_code": "ANCRE", "code": "X", "label": "  "}, "label"),
    ({"domain_code": "ANCRE", "code": "X", "label": "X", "exclusive": "A B"}, "exclusive"),
    ({"domain_code": "neuf", "code": "X", "label": "X", "domain_label": "Neuf"}, None),
])
def test_the_catalogue_checks(sqlite_catalogue: Flask, kwargs: dict[str, str],
                              field_name: str | None) -> None:
    if field_name is None:
        assert catalogue.add_role(actor=d.ACTOR, **kwargs).domain_code == "NEUF"
        return
    with pytest.raises(catalogue.InvalidEntry) as caught:
        catalogue.add_role(actor=d.ACTOR, **kwargs)
    assert caught.value.field == field_name
    with pytest.raises(catalogue.UnknownDomain):
        catalogue.add_role("INCONNU", "X", "X", d.ACTOR)


def test_the_entities_list_walks_every_entity_once_and_finds_them_folded(app: Flask) -> None:
    """« Entités » reads 100,000 entities a page at a time by keyset (name, id), names
    shared included, and its search is the folded one of the request form."""
    for n in range(23):
        d.entity(f"E{n:03d}", EntityType.ET,
                 f"EHPAD Saint-Étienne {('nord', 'sud', 'levant', 'ouest')[n % 4]}")
    db.session.commit()
    national = rules.Oversight(national=True)
    query = entities.search_query(national, entities.EntityFilter(text="saint etienne"))
    seen, cursor = [], Cursor()
    while True:
        found, total = entities.page_of(query, cursor, 5)
        seen += [e.id for e in found.rows]
        if found.after is None:
            break
        cursor = Cursor(after=found.after)
    names = dict(db.session.execute(select(Entity.id, Entity.name)).all())
    assert total == 23 and len(seen) == len(set(seen)) == 23
    assert seen == sorted(seen, key=lambda i: (names[i], i))
    assert entities.page_of(entities.search_query(national, entities.EntityFilter(
        text="etienne ouest")), Cursor(), 5)[1] == 5  # 3, 7, 11, 15, 19: every word holds
