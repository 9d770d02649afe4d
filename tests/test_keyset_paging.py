"""Keyset paging (« Précédent » / « Suivant » by a (sort key, id) cursor): walking the
requests queue, the profiles search and Mon historique forwards then backwards shows
every row once, in order, with the filters kept, ties in the sort key included, on
SQLite and PostgreSQL; a cursor outside the list gives the first page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from idp.core.audit import AuditEvent
from idp.core.paging import Cursor, Page
from idp.directory import accounts, profiles, requests
from idp.directory.enums import ProfileState, RequestStatus
from idp.directory.models import Account, Profile, ProfileRequest
from idp.extensions import db
from tests.support import directory as d

SIZE = 4


def walk(read: Callable[[Cursor], Page[Any]]) -> tuple[list[int], list[int]]:
    """The ids met following « Suivant » from the first page, then « Précédent » from
    the last one."""
    forwards, page = [], read(Cursor())
    assert page.before is None
    while True:
        assert 0 < len(page.rows) <= SIZE
        forwards += [row.id for row in page.rows]
        if page.after is None:
            break
        page = read(Cursor(after=page.after))
    backwards = [row.id for row in page.rows]
    while page.before is not None:
        page = read(Cursor(before=page.before))
        backwards = [row.id for row in page.rows] + backwards
    assert page.after is not None or len(forwards) <= SIZE
    return forwards, backwards


def test_the_requests_queue_walks_every_row_once_with_its_filters(app: Flask) -> None:
    world = d.ancre_world()
    same_time = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for n in range(23):
        found = requests.submit(world.etab_x, requests.RequestDetails(
            given_name="Léa", family_name=f"Nom{n:02d}", email=f"lea{n}@example.test",
            label="IDEC", applications=["TDBESMS"]), d.ACTOR)
        # Groups of three filed in the same second: the id breaks the ties.
        found.created_at = same_time - timedelta(minutes=n // 3)
        if n % 5 == 0:
            found.status = RequestStatus.REFUSED
    db.session.commit()
    mine = requests.administered_entities(world.ape.profiles)
    wanted = requests.QueueFilter(name="nom")  # pending ones only, by default

    def read(cursor: Cursor) -> Page[ProfileRequest]:
        found, total = requests.queue_page(mine, wanted, cursor, SIZE)
        assert total == len(expected)
        return found

    expected = list(db.session.scalars(
        select(ProfileRequest.id).where(ProfileRequest.status == RequestStatus.PENDING)
        .order_by(ProfileRequest.created_at.desc(), ProfileRequest.id.desc())))
    assert len(expected) == 18
    assert walk(read) == (expected, expected)
    # A request of the list since decided, or of nobody's list: the first page.
    assert read(Cursor(after=expected[5])).rows[0].id == expected[6]
    decided = db.session.get(ProfileRequest, expected[5])
    decided.status = RequestStatus.ACCEPTED
    db.session.commit()
    expected.remove(decided.id)
    assert [r.id for r in read(Cursor(after=decided.id)).rows] == expected[:SIZE]


def test_the_profiles_search_walks_every_row_once_with_its_filters(app: Flask) -> None:
    world = d.ancre_world()
    for n in range(17):
        # Homonyms: the same name sorts by the profile's id.
        person = Account(identifier=f"9{n:05d}", given_name="Agent", family_name="Bernard"
                         if n % 4 else f"Bernard{n}", email=f"agent{n}@example.test",
                         name_key=f"bernard agent {n}")
        db.session.add(Profile(account=person, entity=world.etab_x, label=f"Agent {n}",
                               state=ProfileState.INACTIVE if n == 7 else ProfileState.ACTIVE))
    db.session.commit()
    wanted = profiles.ProfileFilter(name="bernard", state=ProfileState.ACTIVE)

    def read(cursor: Cursor) -> Page[Profile]:
        found, total = profiles.search_page([world.etab_x.id], wanted, cursor, SIZE)
        assert total == 16
        return found

    expected = list(db.session.scalars(
        select(Profile.id).join(Account).where(Account.family_name.startswith("Bernard"),
                                               Profile.state == ProfileState.ACTIVE)
        .order_by(Account.family_name, Account.given_name, Profile.id)))
    assert len(expected) == 16
    assert walk(read) == (expected, expected)
    # A profile of another entity as a cursor leaks nothing: the first page.
    assert [p.id for p in read(Cursor(after=world.profile_y.id)).rows] == expected[:SIZE]


def test_the_history_walks_every_record_once(app: Flask) -> None:
    world = d.ancre_world()
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for _ in range(11):  # all at the same instant: the ids order them
        db.session.add(AuditEvent(at=at, actor=world.person.identifier,
                                  actor_id=world.person.id, action="account.update",
                                  target_type="account", target_id=world.person.identifier))
    db.session.commit()
    forwards, backwards = walk(lambda cursor: accounts.history_of(world.person, cursor, SIZE)[0])
    at_of = dict(db.session.execute(select(AuditEvent.id, AuditEvent.at)).all())
    assert forwards == backwards == sorted(forwards, key=lambda i: (at_of[i], i), reverse=True)
    assert len(forwards) == accounts.history_of(world.person, Cursor(), SIZE)[1] > 11
