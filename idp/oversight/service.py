"""The queries behind Historique and Revue des habilitations, and the national report.

No Flask here: the pages and `idp reviews report` call the same functions. A *scope* is
the list of entity ids whose records one may read (an administrator's entities,
`requests.administered_entities`), or None for everything (the national level); every
filter narrows it, none widens it.

The audit log grows to millions of rows: Historique reads it newest first, a page at a
time by keyset (`before`: the last event of the previous page), each page a walk down
an index ((entity_id, at, id) for an administrator's entities, (at) for the national
level), never a count nor an offset.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import selectinload

from idp.core.audit import AuditEvent
from idp.directory import rules, services
from idp.directory.enums import AccountState, ProfileState
from idp.directory.models import Account, Entity, Habilitation, Profile, Role
from idp.extensions import db
from idp.oidc.models import Grant

Scope = Collection[int] | None  # entity ids, None: the whole directory

# A name typed in « Personne concernée » may match at most this many accounts.
NAMED_ACCOUNTS_MAX = 200


# --- Historique -----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    since: datetime | None = None  # included
    until: datetime | None = None  # excluded
    action: str = ""
    actor: str = ""  # an identifier, or a label such as "cli:root", "system"
    concerned: str = ""  # an identifier or a name (`_named`)


def _about_people_of(entity_ids: list[int]) -> ColumnElement[bool]:
    """The events about the accounts holding a profile on these entities: an account's
    own events carry no entity (it may hold profiles on several)."""
    holders = (select(Account.identifier).join(Profile, Profile.account_id == Account.id)
               .where(Profile.entity_id.in_(entity_ids)))
    return and_(AuditEvent.entity_id.is_(None), AuditEvent.target_type == "account",
                AuditEvent.target_id.in_(holders))


def _named(text: str, scope: Scope) -> list[Account]:
    """The accounts a « Personne concernée » designates: its identifier, « Nom Prénom »
    or « Prénom Nom » (the duplicate check's key: case, accents and hyphens aside), and
    within an administrator's entities the family name alone."""
    key = services.name_key("", text)
    words = key.split()
    queries = [select(Account).where(or_(
        Account.identifier == text.strip(),
        Account.name_key.in_({key, " ".join([*words[1:], *words[:1]])})))]
    if scope is not None and key:
        # Apart: OR-ed with the indexed lookups above it would scan every account.
        queries.append(select(Account).join(Profile, Profile.account_id == Account.id)
                       .where(Profile.entity_id.in_(list(scope)),
                              Account.name_key.startswith(key + " ", autoescape=True)))
    found = {a.id: a for query in queries for a in db.session.scalars(
        query.options(selectinload(Account.profiles)).limit(NAMED_ACCOUNTS_MAX))}
    return list(found.values())[:NAMED_ACCOUNTS_MAX]


def _concerned(text: str, scope: Scope) -> ColumnElement[bool]:
    """The events about the accounts designated and about their profiles."""
    accounts = _named(text, scope)
    profile_ids = [str(p.id) for a in accounts for p in a.profiles]
    return or_(and_(AuditEvent.target_type == "account",
                    AuditEvent.target_id.in_([a.identifier for a in accounts])),
               and_(AuditEvent.target_type == "profile", AuditEvent.target_id.in_(profile_ids)))


def _actor(text: str) -> ColumnElement[bool]:
    account_id = db.session.scalar(select(Account.id).where(Account.identifier == text))
    return AuditEvent.actor_id == account_id if account_id else AuditEvent.actor == text


def _conditions(scope: Scope, wanted: HistoryFilter) -> list[ColumnElement[bool]]:
    return [c for c in (
        AuditEvent.at >= wanted.since if wanted.since else None,
        AuditEvent.at < wanted.until if wanted.until else None,
        AuditEvent.action == wanted.action if wanted.action else None,
        _actor(wanted.actor) if wanted.actor else None,
        _concerned(wanted.concerned, scope) if wanted.concerned else None,
    ) if c is not None]


def _newest_first(query: Select) -> Select:
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def _scoped(scope: Scope, conditions: list[ColumnElement[bool]], limit: int) -> Select:
    """The events of `scope` meeting `conditions`, newest first, at most `limit`.

    An administrator's scope is read as one branch per entity (an ordered walk down
    (entity_id, at, id) that stops after `limit` rows, however large the log) and one
    for its people's account events, merged: a single OR of the two would make the
    database walk the whole log by date, filtering as it goes."""
    if scope is None:
        return _newest_first(select(AuditEvent).where(*conditions)).limit(limit)
    ids = list(scope)
    branches = [*(AuditEvent.entity_id == entity_id for entity_id in ids),
                _about_people_of(ids)]
    # Each branch is wrapped in a subquery: SQLite takes no ORDER BY inside a UNION.
    found = union_all(*(
        select(branch.c.id, branch.c.at) for branch in (
            _newest_first(select(AuditEvent.id, AuditEvent.at).where(where, *conditions))
            .limit(limit).subquery() for where in branches))).subquery()
    return _newest_first(select(AuditEvent).join(found, found.c.id == AuditEvent.id)
                         ).limit(limit)


def history_query(scope: Scope, wanted: HistoryFilter, before: AuditEvent | None,
                  limit: int) -> Select:
    """At most `limit` events of `scope` that `wanted` keeps, newest first, after the
    event `before` (from the newest when None)."""
    conditions = _conditions(scope, wanted)
    if before is not None:
        conditions.append(tuple_(AuditEvent.at, AuditEvent.id) < (before.at, before.id))
    return _scoped(scope, conditions, limit)


def history_page(scope: Scope, wanted: HistoryFilter, before: int | None, size: int
                 ) -> tuple[list[AuditEvent], int | None]:
    """A page of `history_query` after the event of id `before`, and the id to pass as
    `before` for the next page (None on the last one)."""
    last = db.session.get(AuditEvent, before) if before else None
    events = list(db.session.scalars(history_query(scope, wanted, last, size + 1)))
    return events[:size], events[size - 1].id if len(events) > size else None


def history_chunks(scope: Scope, wanted: HistoryFilter, limit: int,
                   chunk: int = 1000) -> Iterator[list[AuditEvent]]:
    """At most `limit` events of `scope`, newest first, `chunk` at a time (the export:
    a bounded memory whatever the size of the log)."""
    before, left = None, limit
    while left > 0:
        events, before = history_page(scope, wanted, before, min(chunk, left))
        if events:
            yield events
        left -= len(events)
        if before is None:
            return


@dataclass(frozen=True)
class Names:
    """What the rows of a page name: the accounts, profiles and entities they mention,
    read in one query each."""

    accounts: dict[str, Account]  # by identifier
    profiles: dict[str, Profile]  # by id, as the log writes it
    entities: dict[int, Entity]
    roles: dict[tuple[str, str], Role]  # by (domain, code), for the habilitations


def names_of(events: Collection[AuditEvent]) -> Names:
    profile_ids = {int(e.target_id) for e in events
                   if e.target_type == "profile" and (e.target_id or "").isdigit()}
    profiles = list(db.session.scalars(
        select(Profile).where(Profile.id.in_(profile_ids))
        .options(selectinload(Profile.account)))) if profile_ids else []
    identifiers = {e.target_id for e in events if e.target_type == "account"} | {
        e.actor for e in events if e.actor_id}
    accounts = list(db.session.scalars(
        select(Account).where(Account.identifier.in_(identifiers)))) if identifiers else []
    entity_ids = {e.entity_id for e in events if e.entity_id} | {
        p.entity_id for p in profiles}
    entities = list(db.session.scalars(
        select(Entity).where(Entity.id.in_(entity_ids)))) if entity_ids else []
    roles = list(db.session.scalars(select(Role).options(selectinload(Role.domain)))) \
        if any(e.action.startswith("habilitation.") for e in events) else []
    return Names({a.identifier: a for a in accounts}, {str(p.id): p for p in profiles},
                 {e.id: e for e in entities}, {(r.domain_code, r.code): r for r in roles})


# --- Revue des habilitations ----------------------------------------------------------


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st of a shorter
    month becomes its last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def last_use() -> ColumnElement[datetime | None]:
    """When the profile last signed in to an application: each sign-in makes a grant
    bound to the profile chosen (indexed by profile and date)."""
    return (select(func.max(Grant.created_at)).where(Grant.profile_id == Profile.id)
            .correlate(Profile).scalar_subquery())


def _usable_in(scope: Scope) -> Select:
    query = (select(Profile, last_use().label("last_use"))
             .join(Account, Account.id == Profile.account_id)
             .where(Profile.state == ProfileState.ACTIVE,
                    Account.state == AccountState.ACTIVE))
    if scope is not None:
        query = query.where(Profile.entity_id.in_(list(scope)))
    return query.options(selectinload(Profile.account), selectinload(Profile.entity),
                         selectinload(Profile.habilitations).selectinload(Habilitation.role))


def inactive_profiles(scope: Scope, cutoff: datetime) -> Select:
    """The active profiles created before `cutoff` that have not signed in to any
    application since, the longest unused first: (Profile, last_use) rows."""
    used = exists().where(Grant.profile_id == Profile.id, Grant.created_at >= cutoff)
    return (_usable_in(scope).where(Profile.created_at < cutoff, ~used)
            .order_by(last_use().asc().nulls_first(), Profile.id))


def administrator_profiles(scope: Scope) -> Select:
    """The active profiles holding APE or Administrateur: (Profile, last_use) rows."""
    admin = exists().where(Habilitation.profile_id == Profile.id,
                           Habilitation.role_id == Role.id,
                           Role.domain_code == rules.ADMINISTRATION,
                           Role.code.in_(rules.ADMIN_ROLES))
    return (_usable_in(scope).where(admin)
            .order_by(Account.family_name, Account.given_name, Profile.id))


def count(query: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(
        query.order_by(None).subquery())) or 0
