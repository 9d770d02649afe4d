"""Profile requests in the directory: routed by level (principles 3 and 4), decided once,
each step audited in the transaction of the change."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.core.audit import Actor, AuditEvent
from idp.core.paging import Cursor
from idp.directory import requests, rules, services
from idp.directory.enums import EntityType, ProfileState, RequestStatus
from idp.extensions import db
from tests.support import directory as d


def details(**overrides: Any) -> requests.RequestDetails:
    values: dict[str, Any] = {"given_name": "Léa", "family_name": "Nouvelle",
                              "email": "lea.nouvelle@example.test", "label": "IDEC",
                              "applications": ["TDBESMS"], "phone": "03 86 00 00 00"}
    return requests.RequestDetails(**{**values, **overrides})


def actor_of(account: Any) -> Actor:
    return Actor(label=account.identifier, account_id=account.id)


@pytest.fixture
def world(app: Flask) -> d.AncreWorld:
    """The ANCRE world, with an OG administrator and a national level."""
    world = d.ancre_world()
    og_admin = d.account("Odile", "Gestion")
    d.profile(og_admin, world.og, "Direction OG", "ADMINISTRATION/APE")
    nat = d.entity("ATIH", EntityType.NAT, "ATIH")
    national = d.account("Nora", "National")
    d.profile(national, nat, "ATIH", "ADMINISTRATION/APE")
    db.session.commit()
    world.extras.update(og_admin=og_admin, national=national, nat=nat)
    return world


def codes(request: Any) -> list[int]:
    return sorted(route.entity_id for route in request.routes)


def test_a_plain_request_goes_to_the_entity_s_administrators(world: d.AncreWorld) -> None:
    request = requests.submit(world.etab_x, details(), d.ACTOR)
    assert codes(request) == [world.etab_x.id]
    assert requests.may_decide(world.ape.profiles, request)
    assert not requests.may_decide(world.extras["og_admin"].profiles, request)
    assert [p.account for p in requests.deciders(request)] == [world.ape]


def test_an_ape_wish_goes_to_the_managing_og(world: d.AncreWorld) -> None:
    request = requests.submit(world.etab_x, details(wants_ape=True), d.ACTOR)
    assert codes(request) == [world.og.id]
    assert requests.may_decide(world.extras["og_admin"].profiles, request)
    # The entity's own APE does not appoint his successor.
    assert not requests.may_decide(world.ape.profiles, request)


def test_an_entity_without_administrator_sends_plain_requests_above(
        world: d.AncreWorld) -> None:
    request = requests.submit(world.etab_y, details(), d.ACTOR)
    assert codes(request) == [world.og.id]


def test_a_level_without_administrator_is_skipped(world: d.AncreWorld) -> None:
    # The ARS has no administrator in this world: an APE wish of an establishment that
    # answers to it climbs to the national level rather than wait for nobody.
    lone = d.entity(d.finess("25000003"), EntityType.ET, "SSIAD Seul",
                    finess_number=d.finess("25000003"), departement="25", region="27")
    request = requests.submit(lone, details(wants_ape=True), d.ACTOR)
    assert codes(request) == [world.extras["nat"].id]


def test_accepting_a_newcomer_s_ape_request(world: d.AncreWorld) -> None:
    request = requests.submit(world.etab_x, details(wants_ape=True), d.ACTOR)
    db.session.commit()
    decider = actor_of(world.extras["og_admin"])
    decision = requests.accept(request, "Bienvenue", decider, d.MIN_LENGTH)
    db.session.commit()

    account, profile = decision.account, decision.profile
    assert account is not None and profile is not None
    assert account.full_name == "Léa Nouvelle" and account.password_hash is None
    assert profile.state == ProfileState.ACTIVE and profile.entity_id == world.etab_x.id
    assert rules.holds_ape(profile)
    assert services.current_ape_profiles(world.etab_x.id) == [profile.id]
    [previous] = decision.demoted
    assert previous.account_id == world.ape.id
    assert [h.role.code for h in previous.habilitations] == [rules.ADMINISTRATEUR]
    assert request.status == RequestStatus.ACCEPTED
    assert request.decision_comment == "Bienvenue" and request.account_id == account.id
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-1] == "profile_request.accept"
    assert {"profile_request.submit", "account.create", "profile.create", "ape.demote",
            "ape.appoint"} <= set(actions)


def test_a_request_is_decided_once(world: d.AncreWorld) -> None:
    request = requests.submit(world.etab_x, details(), d.ACTOR)
    db.session.commit()
    requests.refuse(request, "Inconnue", actor_of(world.ape))
    db.session.commit()
    with pytest.raises(requests.AlreadyDecided):
        requests.accept(request, None, actor_of(world.ape), d.MIN_LENGTH)
    db.session.rollback()
    assert request.status == RequestStatus.REFUSED
    with pytest.raises(requests.AlreadyDecided):
        requests.withdraw(request, world.person, actor_of(world.person))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_administrators_deciding_at_once_get_one_decision(world: d.AncreWorld,
                                                               app: Flask) -> None:
    request = requests.submit(world.etab_x, details(), d.ACTOR)
    db.session.commit()
    request_id = request.id
    start, outcomes = threading.Barrier(2), []

    def decide(accepting: bool) -> None:
        with app.app_context():
            mine = requests.get_request(request_id)
            start.wait()
            try:
                if accepting:
                    requests.accept(mine, None, d.ACTOR, d.MIN_LENGTH)
                else:
                    requests.refuse(mine, None, d.ACTOR)
                db.session.commit()
                outcomes.append("decided")
            except requests.AlreadyDecided:
                db.session.rollback()
                outcomes.append("already")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=decide, args=(flag,)) for flag in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["already", "decided"]
    db.session.expire_all()
    decided = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.in_(["profile_request.accept", "profile_request.refuse"]))).all()
    assert len(decided) == 1


def test_queues_show_each_administrator_his_own(world: d.AncreWorld) -> None:
    plain_x = requests.submit(world.etab_x, details(), d.ACTOR)
    ape_x = requests.submit(world.etab_x, details(wants_ape=True, family_name="Autre"),
                            d.ACTOR)
    plain_y = requests.submit(world.etab_y, details(family_name="Verger"), d.ACTOR)
    db.session.commit()

    def queue(account: Any, view: str, **filters: Any) -> list[int]:
        mine = requests.administered_entities(account.profiles)
        found, total = requests.queue_page(mine, requests.QueueFilter(view=view, **filters),
                                           Cursor(), 50)
        assert total == len(found.rows)
        return sorted(r.id for r in found.rows)

    og_admin = world.extras["og_admin"]
    assert queue(world.ape, "entite") == [plain_x.id]
    assert queue(world.ape, "niveau") == []
    assert queue(og_admin, "entite") == []
    assert queue(og_admin, "niveau") == sorted([ape_x.id, plain_y.id])
    assert queue(og_admin, "niveau", name="verg") == [plain_y.id]
    assert queue(og_admin, "niveau", entity="tilleuls") == [ape_x.id]
    assert queue(world.person, "entite") == queue(world.person, "niveau") == []


def test_a_person_files_one_pending_request_per_entity(world: d.AncreWorld) -> None:
    requests.submit(world.etab_y, details(), actor_of(world.person), world.person)
    with pytest.raises(services.RuleViolation, match="déjà une demande en attente"):
        requests.submit(world.etab_y, details(), actor_of(world.person), world.person)


def test_unknown_applications_are_refused(world: d.AncreWorld) -> None:
    for applications in ([], ["ADMINISTRATION"], ["NOPE"]):
        with pytest.raises(services.RuleViolation, match="au moins une application"):
            requests.submit(world.etab_x, details(applications=applications), d.ACTOR)


def test_the_entity_field_searches_finess_city_and_name(world: d.AncreWorld) -> None:
    assert requests.search_entities("EH") == []
    assert world.etab_x in requests.search_entities("tilleuls")
    assert {world.etab_x, world.etab_y} <= set(requests.search_entities(world.etab_y.finess[:5]))
    assert requests.search_entities("100%_") == []
