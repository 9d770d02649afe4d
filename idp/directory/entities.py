"""The national and regional administration of entities: search what one oversees,
create, edit and deactivate an entity, and the APEs one appoints.

An entity is created or edited through the import's own checks (`importer`: FINESS key,
département and region, legal entity and managing OG), as a file of one row. Like the
services, every operation adds its changes and audit events to the current session and
leaves the commit to the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from idp.core.audit import Actor, record
from idp.core.errors import RuleViolation
from idp.core.paging import Cursor, Page, keyset_page
from idp.directory import importer, profiles, rules
from idp.directory.enums import EntityType, ProfileState
from idp.directory.folding import search_words
from idp.directory.models import Account, Entity, Habilitation, Profile, Role
from idp.directory.requests import escape_like
from idp.extensions import db

ALREADY_EXISTS = "Une entité porte déjà ce code ou ce FINESS : modifiez-la plutôt."
ALREADY_INACTIVE = "Cette entité est déjà désactivée."
ALREADY_ACTIVE = "Cette entité est déjà active."
NOT_OF_ENTITY = "Ce profil n'appartient pas à cette entité."
ESTABLISHMENTS = (EntityType.ET, EntityType.EJ)


class EntityRejected(RuleViolation):
    """The values of an entity break the import's checks; `problems` maps each column
    (`importer.COLUMNS`, "" for the row as a whole) to its French messages."""

    def __init__(self, problems: Mapping[str, list[str]]) -> None:
        self.problems = dict(problems)
        super().__init__(" ; ".join(m for ms in self.problems.values() for m in ms))


# --- search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityFilter:
    """The search form; each criterion narrows what the administrator oversees."""

    text: str = ""  # the start of a FINESS or code, or part of the name or the city
    type: EntityType | None = None
    region: str = ""
    departement: str = ""


def _overseen(scope: rules.Oversight):  # type: ignore[no-untyped-def]
    if scope.national:
        return Entity.id.is_not(None)
    return or_(Entity.region.in_(sorted(scope.regions)),
               Entity.departement.in_(sorted(scope.departements)))


def search_query(scope: rules.Oversight, wanted: EntityFilter) -> Select:
    # Every word typed in the FINESS, code, name or city, folded like the request form's
    # « Entité » field (« saint etienne » finds « Saint-Étienne »), on its indexed column.
    query = select(Entity).where(_overseen(scope), *(
        Entity.search_text.like(f"%{escape_like(word)}%", "\\")
        for word in search_words(wanted.text)))
    if wanted.type is not None:
        query = query.where(Entity.type == wanted.type)
    if wanted.region:
        query = query.where(Entity.region == wanted.region)
    if wanted.departement:
        query = query.where(Entity.departement == wanted.departement)
    return query


def page_of(query: Select, cursor: Cursor, limit: int) -> tuple[Page[Entity], int]:
    """One page of the entities `query` finds, by name (keyset: as fast at the end of
    100,000 entities as at the start), and how many it finds in all."""
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return keyset_page(db.session, query, (Entity.name, Entity.id), cursor, limit), total


# --- the APEs one appoints ------------------------------------------------------------


def appointed_by(appointers: Sequence[Entity]) -> Select:
    """The entities whose APE the administrators of `appointers` appoint: the SQL form of
    `rules.appointing_entities` (tests/test_national_domain.py checks they agree), to
    list them a page at a time instead of asking the rule about every entity."""
    no_og = or_(Entity.managing_og_id.is_(None), Entity.managing_og_id == Entity.id)
    establishment = Entity.type.in_(ESTABLISHMENTS)
    ars = aliased(Entity)
    cd = aliased(Entity)
    has_ars = exists().where(ars.type == EntityType.ARS, ars.region == Entity.region)
    has_cd = exists().where(cd.type == EntityType.CD, cd.departement == Entity.departement)
    conditions = []
    for appointer in appointers:
        if appointer.type == EntityType.NAT:
            conditions.append(Entity.type.in_((EntityType.ARS, EntityType.CD, EntityType.NAT)))
            # An establishment without OG whose region has no ARS and whose département
            # has no CD climbs to the national level.
            conditions.append(and_(establishment, no_og, ~has_ars, ~has_cd))
        elif appointer.type == EntityType.ARS and appointer.region:
            conditions.append(and_(establishment, no_og, Entity.region == appointer.region))
        elif appointer.type == EntityType.CD and appointer.departement:
            conditions.append(and_(establishment, no_og,
                                   Entity.departement == appointer.departement))
        else:
            conditions.append(and_(establishment, Entity.managing_og_id == appointer.id,
                                   Entity.id != appointer.id))
    return select(Entity).where(or_(*conditions)) if conditions else \
        select(Entity).where(Entity.id.is_(None))


def appointing_admin_entities(admin_profiles: Sequence[Profile]) -> list[Entity]:
    """The entities whose usable administrator profiles are among `admin_profiles`."""
    return [p.entity for p in admin_profiles if rules.is_usable(p) and rules.is_admin_profile(p)]


def appoints_someone(account: Account) -> bool:
    """Whether the account's administrator profiles appoint the APE of any entity."""
    appointers = appointing_admin_entities(account.profiles)
    return bool(appointers) and db.session.scalar(
        appointed_by(appointers).with_only_columns(Entity.id).limit(1)) is not None


def apes_of(entity_ids: Collection[int]) -> dict[int, Profile]:
    """{entity id: the profile of its APE} for those of `entity_ids` that have one."""
    if not entity_ids:
        return {}
    found = db.session.scalars(
        select(Profile).join(Habilitation).join(Role)
        .where(Profile.entity_id.in_(list(entity_ids)), Profile.state == ProfileState.ACTIVE,
               Role.domain_code == rules.ADMINISTRATION, Role.code == rules.APE)
        .options(selectinload(Profile.account)))
    return {p.entity_id: p for p in found}


def appointable_profiles(entity: Entity) -> list[Profile]:
    """The entity's usable profiles that could become its APE."""
    found = db.session.scalars(
        select(Profile).where(Profile.entity_id == entity.id,
                              Profile.state == ProfileState.ACTIVE)
        .options(selectinload(Profile.account),
                 selectinload(Profile.habilitations).selectinload(Habilitation.role))
        .order_by(Profile.label, Profile.id))
    return [p for p in found if rules.is_usable(p) and not rules.holds_ape(p)]


def appoint_ape(entity: Entity, profile: Profile, actor: Actor) -> list[Profile]:
    """The level above makes `profile` the entity's single APE, in the caller's one
    transaction; returns the former APE(s), who stay Administrateur. The caller has
    checked `rules.may_appoint_ape`."""
    if profile.entity_id != entity.id:
        raise RuleViolation(NOT_OF_ENTITY)
    return profiles.hand_over_ape(profile, actor)


# --- create, edit, deactivate ---------------------------------------------------------


def save_entity(values: Mapping[str, str], actor: Actor, entity: Entity | None = None
                ) -> Entity:
    """Create an entity (`entity` None) or edit `entity` from the form's `values` (the
    import's columns), with the import's checks; raises EntityRejected, nothing written.
    An edit keeps the entity's code and FINESS: they are what the import matches on."""
    row = {column: (values.get(column) or "").strip() for column in importer.COLUMNS}
    if entity is not None:
        row |= {"code": entity.code if not entity.finess else "", "finess": entity.finess or ""}
    else:
        wanted = (row["finess"] or row["code"]).replace(" ", "").upper()
        if wanted and db.session.scalar(select(Entity.id).where(
                or_(Entity.code == wanted, Entity.finess == wanted))) is not None:
            raise EntityRejected({"finess" if row["finess"] else "code": [ALREADY_EXISTS]})
    try:
        importer.upsert_entities([importer.EntityRow(1, row)])
    except importer.ImportRejected as exc:
        problems: dict[str, list[str]] = {}
        for problem in exc.problems:
            problems.setdefault(problem.column, []).append(_sentence(problem.message))
        raise EntityRejected(problems) from None
    code = entity.code if entity is not None else (row["finess"].replace(" ", "").upper()
                                                   or row["code"].upper())
    saved = db.session.scalar(select(Entity).where(Entity.code == code))
    assert saved is not None
    record(actor, "entity.update" if entity is not None else "entity.create", target=saved,
           entity_id=saved.id, code=saved.code, name=saved.name, type=str(saved.type))
    return saved


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


def set_active(entity: Entity, active: bool, actor: Actor) -> None:
    """Deactivate an entity (no longer offered to requests) or reactivate it."""
    if entity.active == active:
        raise RuleViolation(ALREADY_ACTIVE if active else ALREADY_INACTIVE)
    entity.active = active
    db.session.flush()
    record(actor, "entity.reactivate" if active else "entity.deactivate", target=entity,
           entity_id=entity.id, code=entity.code)
