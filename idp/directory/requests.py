"""Account and profile requests: filed by the person, routed by level, decided once.

A plain request goes to the administrators of its entity (principle 3); a wish to
become APE goes to the level that appoints the entity's APE (principle 4); where the
entities found have no administrator at all, the request climbs one more level, so that
none waits with nobody to read it. The routing is stored with the request
(`RequestRoute`), and the same routing says who may decide it.

Like the services, every operation adds its changes and audit events to the current
session and leaves the commit (and the mails) to the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, not_, or_, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import selectinload

from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.core.errors import NotFound, RuleViolation
from idp.core.paging import Cursor, Page, keyset_page
from idp.directory import rules, services
from idp.directory.enums import RequestStatus
from idp.directory.folding import search_words
from idp.directory.models import (
    Account,
    Domain,
    Entity,
    Profile,
    ProfileRequest,
    RequestRoute,
)
from idp.extensions import db

ALREADY_DECIDED = ("Cette demande a déjà été traitée (acceptée, refusée ou retirée par "
                   "son auteur) : elle ne peut plus être modifiée.")
ALREADY_PENDING = ("Vous avez déjà une demande en attente pour cette entité : attendez la "
                   "décision de ses administrateurs ou retirez-la.")


class AlreadyDecided(RuleViolation):
    pass


@dataclass(frozen=True)
class RequestDetails:
    """What the person typed in the request form."""

    given_name: str
    family_name: str
    email: str
    label: str
    applications: list[str]
    wants_ape: bool = False
    phone: str | None = None
    address: str | None = None
    comment: str | None = None


@dataclass
class Decision:
    request: ProfileRequest
    accepted: bool
    account: Account | None = None
    profile: Profile | None = None
    # The profiles that held the APE role of the entity until this decision.
    demoted: list[Profile] = field(default_factory=list)


def requestable_domains() -> list[Domain]:
    """The applications a request may name (Administration is a role, not an application)."""
    return list(db.session.scalars(
        select(Domain).where(Domain.code != rules.ADMINISTRATION).order_by(Domain.label)))


# --- routing --------------------------------------------------------------------------


def deciding_entities(entity: Entity, wants_ape: bool) -> list[Entity]:
    """The entities whose administrators decide a request on `entity`."""
    lookup = services.authority_lookup()
    level = rules.appointing_entities(entity, lookup) if wants_ape else [entity]
    seen: set[int] = set()
    while not any(services.administrators_of(e) for e in level):
        ids = {e.id for e in level}
        above = [a for e in level for a in rules.appointing_entities(e, lookup)]
        if ids <= seen or not above:  # the top: the request waits for its first admin
            break
        seen |= ids
        level = list({e.id: e for e in above}.values())
    return level  # type: ignore[return-value]


def deciders(request: ProfileRequest) -> list[Profile]:
    """The administrators who are told of the request (one profile per address)."""
    by_address: dict[str, Profile] = {}
    for route in request.routes:
        for profile in services.administrators_of(db.session.get(Entity, route.entity_id)):
            by_address.setdefault(profile.effective_email.lower(), profile)
    return list(by_address.values())


def _own_entity(entity_ids: Collection[int]):  # type: ignore[no-untyped-def]
    """Plain requests on the administrator's entities: theirs, even if they were routed
    above while the entity had no administrator."""
    return and_(ProfileRequest.entity_id.in_(entity_ids), not_(ProfileRequest.wants_ape))


def _routed_to(entity_ids: Collection[int]):  # type: ignore[no-untyped-def]
    return exists().where(RequestRoute.request_id == ProfileRequest.id,
                          RequestRoute.entity_id.in_(entity_ids))


def administered_entities(profiles: Sequence[Profile]) -> list[int]:
    """The entities the person administers (principle 3), from his profiles."""
    return sorted({p.entity_id for p in profiles if rules.may_administer([p], p.entity_id)})


def may_decide(profiles: Sequence[Profile], request: ProfileRequest) -> bool:
    """The same test as the queues' query, on one request."""
    mine = set(administered_entities(profiles))
    own = request.entity_id in mine and not request.wants_ape
    return own or any(route.entity_id in mine for route in request.routes)


# --- filing ---------------------------------------------------------------------------


def submit(entity: Entity, details: RequestDetails, actor: Actor,
           account: Account | None = None) -> ProfileRequest:
    """File a request: a newcomer's (`account` None) or a signed-in person's."""
    known = {d.code for d in requestable_domains()}
    applications = sorted(set(details.applications))
    if not applications or not set(applications) <= known:
        raise RuleViolation("Choisissez au moins une application dans la liste.")
    if not entity.active:
        raise RuleViolation("Cette entité n'est plus active : choisissez-en une autre.")
    if account is not None and db.session.scalar(select(ProfileRequest.id).where(
            ProfileRequest.account_id == account.id, ProfileRequest.entity_id == entity.id,
            ProfileRequest.status == RequestStatus.PENDING)):
        raise RuleViolation(ALREADY_PENDING)
    request = ProfileRequest(
        entity=entity, account=account, new_account=account is None,
        wants_ape=details.wants_ape, given_name=details.given_name.strip(),
        family_name=details.family_name.strip(), email=details.email.strip(),
        phone=details.phone, address=details.address, label=details.label.strip(),
        applications=applications, comment=details.comment, status=RequestStatus.PENDING,
    )
    routed = deciding_entities(entity, details.wants_ape)
    request.routes = [RequestRoute(entity_id=e.id) for e in routed]
    db.session.add(request)
    db.session.flush()
    record(actor, "profile_request.submit", target=request, entity_id=entity.id,
           wants_ape=details.wants_ape, new_account=account is None,
           applications=applications, routed_to=[e.code for e in routed])
    return request


def get_request(request_id: int) -> ProfileRequest:
    request = db.session.get(ProfileRequest, request_id)
    if request is None:
        raise NotFound("Cette demande n'existe pas.")
    return request


def requests_of(account: Account) -> list[ProfileRequest]:
    """A person's own requests, the latest first."""
    return list(db.session.scalars(
        select(ProfileRequest).where(ProfileRequest.account_id == account.id)
        .order_by(ProfileRequest.created_at.desc(), ProfileRequest.id.desc())))


def _close(request: ProfileRequest, status: RequestStatus, actor: Actor,
           comment: str | None, *extra: object) -> None:
    """Move a pending request to `status`, once: of two concurrent calls, the database
    lets one update the row; the other finds it no longer pending."""
    done = db.session.execute(
        update(ProfileRequest)
        .where(ProfileRequest.id == request.id, ProfileRequest.status == RequestStatus.PENDING,
               *extra)
        .values(status=status, decision_comment=comment, decided_by_id=actor.account_id,
                decided_at=utcnow())
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyDecided(ALREADY_DECIDED)
    db.session.refresh(request)


def withdraw(request: ProfileRequest, account: Account, actor: Actor) -> None:
    """The requester withdraws his pending request."""
    _close(request, RequestStatus.WITHDRAWN, actor, None, ProfileRequest.account_id == account.id)
    record(actor, "profile_request.withdraw", target=request, entity_id=request.entity_id)


# --- deciding -------------------------------------------------------------------------


def refuse(request: ProfileRequest, comment: str | None, actor: Actor) -> Decision:
    _close(request, RequestStatus.REFUSED, actor, comment)
    record(actor, "profile_request.refuse", target=request, entity_id=request.entity_id,
           comment=comment)
    return Decision(request, accepted=False, account=request.account)


def accept(request: ProfileRequest, comment: str | None, actor: Actor,
           password_min_length: int) -> Decision:
    """Create the account where needed and the active profile; an APE wish makes the
    person the entity's one APE."""
    _close(request, RequestStatus.ACCEPTED, actor, comment)
    account = request.account
    if account is None:
        account = services.create_account(
            given_name=request.given_name, family_name=request.family_name,
            email=request.email, phone=request.phone, address=request.address,
            actor=actor, password_min_length=password_min_length)
        request.account = account
    differs = request.email.lower() != account.email.lower()
    profile = services.create_profile(
        account, request.entity, label=request.label, actor=actor,
        email=request.email if differs else None,
        phone=request.phone if request.phone != account.phone else None)
    request.profile_id = profile.id
    demoted = appoint_ape(profile, actor) if request.wants_ape else []
    record(actor, "profile_request.accept", target=request, entity_id=request.entity_id,
           account=account.identifier, profile_id=profile.id, comment=comment)
    return Decision(request, accepted=True, account=account, profile=profile,
                    demoted=demoted)


def appoint_ape(profile: Profile, actor: Actor) -> list[Profile]:
    """Make `profile` its entity's single APE; the previous APE stays an Administrateur."""
    ape = services.get_role(rules.ADMINISTRATION, rules.APE)
    administrateur = services.get_role(rules.ADMINISTRATION, rules.ADMINISTRATEUR)
    demoted = []
    for profile_id in services.current_ape_profiles(profile.entity_id):
        if profile_id == profile.id:
            continue
        previous = services.get_profile(profile_id)
        services.revoke(previous, ape, actor)
        if all(h.role_id != administrateur.id for h in previous.habilitations):
            services.grant(previous, administrateur, actor)
        record(actor, "ape.demote", target=previous, entity_id=profile.entity_id,
               account=previous.account.identifier, replaced_by=profile.account.identifier)
        demoted.append(previous)
    services.grant(profile, ape, actor)
    record(actor, "ape.appoint", target=profile, entity_id=profile.entity_id,
           account=profile.account.identifier)
    return demoted


# --- queues ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What an administrator's queue shows: `view` "entite" (the requests of his
    entities) or "niveau" (what the level below sends him: APE wishes, and the requests
    of entities without administrator)."""

    view: str = "entite"
    status: RequestStatus | None = RequestStatus.PENDING
    since: datetime | None = None
    until: datetime | None = None
    name: str = ""
    entity: str = ""


# Latest first (an index on created_at); the CSV export lists them in the same order.
QUEUE_ORDER = (ProfileRequest.created_at, ProfileRequest.id)


def queue_query(entity_ids: Collection[int], wanted: QueueFilter) -> Select:
    if wanted.view == "entite":
        query = select(ProfileRequest).where(_own_entity(entity_ids))
    else:
        query = select(ProfileRequest).where(_routed_to(entity_ids),
                                             not_(_own_entity(entity_ids)))
    if wanted.status is not None:
        query = query.where(ProfileRequest.status == wanted.status)
    if wanted.since is not None:
        query = query.where(ProfileRequest.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(ProfileRequest.created_at < wanted.until)
    if wanted.name.strip():
        pattern = f"%{escape_like(wanted.name.strip().lower())}%"
        query = query.where(or_(func.lower(ProfileRequest.family_name).like(pattern, "\\"),
                                func.lower(ProfileRequest.given_name).like(pattern, "\\")))
    if wanted.entity.strip():
        pattern = f"%{escape_like(wanted.entity.strip().lower())}%"
        query = query.join(Entity, Entity.id == ProfileRequest.entity_id).where(or_(
            func.lower(Entity.name).like(pattern, "\\"), Entity.finess.like(pattern, "\\"),
            func.lower(Entity.code).like(pattern, "\\")))
    return query


def queue_page(entity_ids: Collection[int], wanted: QueueFilter, cursor: Cursor, size: int
               ) -> tuple[Page[ProfileRequest], int]:
    """One page of the queue, the latest first, and the number of requests in all."""
    query = queue_query(entity_ids, wanted)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    found = keyset_page(db.session, query, QUEUE_ORDER, cursor, size, descending=True,
                        options=(selectinload(ProfileRequest.account),
                                 selectinload(ProfileRequest.entity)))
    return found, total


# --- the entity field -----------------------------------------------------------------

ENTITY_SEARCH_MIN = 3  # characters typed before the list is offered (the guide's rule)
ENTITY_CANDIDATES = 200  # matches sorted by name for the list (see entity_search_query)


def search_entities(text: str, limit: int = 20) -> list[Entity]:
    """Active entities whose FINESS, code, name or city hold every word typed, folded
    like the names of the duplicate check (« saint etienne » finds « Saint-Étienne »):
    the choices of the request form's « Entité » field."""
    query = entity_search_query(text, limit)
    if query is None:
        return []
    with trigram_index_only():
        return list(db.session.scalars(query))


@contextmanager
def trigram_index_only() -> Iterator[None]:
    """On PostgreSQL, keep the planner from scanning the table for the entity search.

    Its estimate for a LIKE inside words knows nothing of how words go together: given
    « tilleuls besancon » it expects hundreds of matches and, with a LIMIT, bets on a
    scan that stops early; when there are none it reads all 100k entities (80 to 110 ms
    measured) where the trigram index answers in a few. The setting ends with the
    statement's transaction, and is set back here at once.
    """
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        db.session.execute(sql("SET LOCAL enable_seqscan = off"))
    try:
        yield
    finally:
        if postgresql:
            db.session.execute(sql("SET LOCAL enable_seqscan = on"))


def entity_search_query(text: str, limit: int) -> Select | None:
    """The query of `search_entities`, None below ENTITY_SEARCH_MIN characters.

    Each word is a LIKE on the folded column, which PostgreSQL's trigram index answers
    without a scan. The list is sorted by name among the first ENTITY_CANDIDATES
    matches only: a common word (« ehpad ») matches thousands of entities, and sorting
    them all to show 20 would cost a scan; the person types one more word instead.
    """
    words = search_words(text)
    if len(" ".join(words)) < ENTITY_SEARCH_MIN:
        return None
    matches = (select(Entity.id).where(Entity.active, *(
        Entity.search_text.like(f"%{escape_like(word)}%", "\\") for word in words))
        .limit(ENTITY_CANDIDATES))
    return (select(Entity).where(Entity.id.in_(matches.scalar_subquery()))
            .order_by(Entity.name, Entity.id).limit(limit))


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern with "\\" as the escape character."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
