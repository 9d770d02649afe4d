"""Profils › Recherche de profils and Gestion des profils & habilitations: what an
entity's administrators do to its profiles.

Who may act is asked by the pages (`rules.may_administer`, `rules.may_hand_over_ape`);
these operations apply the other rules through the services (`services.grant` refuses
exclusive roles and a second APE) and, like them, add their changes and audit events
to the current session and leave the commit to the caller. An administrator changes a
profile's habilitations and state, never the person's details (principle 2).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from idp.core.audit import Actor, record
from idp.core.errors import RuleViolation
from idp.core.paging import Cursor, Page, keyset_page
from idp.directory import events, requests, rules, services
from idp.directory.enums import ProfileState
from idp.directory.models import Account, Domain, Habilitation, Profile, Role
from idp.extensions import db

STATE_LABELS = {
    ProfileState.PENDING: "En attente de création",
    ProfileState.ACTIVE: "Actif",
    ProfileState.INACTIVE: "Inactif",
}

APE_BY_HANDOVER = ("Le rôle d'administrateur principal (APE) ne s'attribue pas en cochant "
                   "une case : l'administrateur principal le transmet à un autre profil de "
                   "l'entité, ou le niveau supérieur le nomme en acceptant une demande de "
                   "profil administrateur principal.")
NOT_THIS_DOMAIN = "Ce rôle n'appartient pas au domaine choisi."
DEACTIVATED = ("Le profil « {label} » est désactivé : ses connexions aux applications "
               "sont terminées.")
ALREADY_INACTIVE = "Ce profil est déjà inactif."
NOT_INACTIVE = "Seul un profil inactif peut être réactivé."
OWN_PROFILE = ("Vous ne pouvez pas désactiver votre propre profil : demandez-le à un autre "
               "administrateur de l'entité.")
APE_STAYS = ("Ce profil est celui de l'administrateur principal (APE) de l'entité : il "
             "doit d'abord transmettre ce rôle à un autre profil avant d'être désactivé.")
NOT_ACTIVE_FOR_APE = "Seul un profil actif peut devenir administrateur principal."
ALREADY_APE = "Ce profil est déjà celui de l'administrateur principal de l'entité."


# --- Recherche de profils -------------------------------------------------------------


@dataclass(frozen=True)
class ProfileFilter:
    """The search form: each criterion narrows the profiles of the administrator's
    entities (`entity_ids` of `search_query`), never widens them."""

    name: str = ""  # family name, given name or identifier
    label: str = ""
    state: ProfileState | None = None
    role_id: int | None = None
    entity_id: int | None = None


def search_query(entity_ids: Collection[int], wanted: ProfileFilter) -> Select:
    query = (select(Profile).join(Account, Account.id == Profile.account_id)
             .where(Profile.entity_id.in_(entity_ids)))
    if wanted.entity_id is not None:
        query = query.where(Profile.entity_id == wanted.entity_id)
    if wanted.name.strip():
        text = wanted.name.strip()
        pattern = f"%{requests.escape_like(text.lower())}%"
        query = query.where(or_(func.lower(Account.family_name).like(pattern, "\\"),
                                func.lower(Account.given_name).like(pattern, "\\"),
                                Account.identifier == text))
    if wanted.label.strip():
        pattern = f"%{requests.escape_like(wanted.label.strip().lower())}%"
        query = query.where(func.lower(Profile.label).like(pattern, "\\"))
    if wanted.state is not None:
        query = query.where(Profile.state == wanted.state)
    if wanted.role_id is not None:
        query = query.where(exists().where(Habilitation.profile_id == Profile.id,
                                           Habilitation.role_id == wanted.role_id))
    return query


def search_page(entity_ids: Collection[int], wanted: ProfileFilter, cursor: Cursor, size: int
                ) -> tuple[Page[Profile], int]:
    """One page of the profiles found, by name, and how many were found in all."""
    query = search_query(entity_ids, wanted)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    found = keyset_page(
        db.session, query, (Account.family_name, Account.given_name, Profile.id), cursor, size,
        options=(contains_eager(Profile.account), selectinload(Profile.entity),
                 selectinload(Profile.habilitations).selectinload(Habilitation.role)))
    return found, total


# --- Modifier les habilitations du profil ---------------------------------------------


def domains() -> list[Domain]:
    """The « Domaine » list, in the catalogue's order of labels."""
    return list(db.session.scalars(select(Domain).order_by(Domain.label)))


def granted_roles(profile: Profile, domain: Domain) -> list[Role]:
    """« Rôles attribués »: the profile's roles in `domain`."""
    return sorted((r for r in rules.profile_roles(profile) if r.domain_code == domain.code),
                  key=lambda r: r.id)


def assignable_roles(profile: Profile, domain: Domain) -> list[Role]:
    """« Rôles attribuables »: the domain's other roles, but the APE (handed over)."""
    held = {r.id for r in rules.profile_roles(profile)}
    return [r for r in domain.roles if r.id not in held and not rules.is_ape_role(r)]


def update_habilitations(profile: Profile, domain: Domain, add: Sequence[Role],
                         remove: Sequence[Role], actor: Actor) -> None:
    """One « Enregistrer »: the unticked roles go first, then the ticked ones come, so
    that Lecteur can be swapped for Gestionnaire de fichiers in one go; a rule that
    refuses one change refuses them all (the caller rolls back)."""
    for role in (*add, *remove):
        if role.domain_code != domain.code:
            raise RuleViolation(NOT_THIS_DOMAIN)
        if rules.is_ape_role(role):
            raise RuleViolation(APE_BY_HANDOVER)
    for role in remove:
        services.revoke(profile, role, actor)
    for role in add:
        services.grant(profile, role, actor)


# --- the profile's state --------------------------------------------------------------


def deactivate(profile: Profile, actor: Actor) -> None:
    """The profile can no longer sign in; what was issued for it ends at once (the
    subscribers of `events.profile_ended`). Its habilitations stay, for a reactivation."""
    if profile.state == ProfileState.INACTIVE:
        raise RuleViolation(ALREADY_INACTIVE)
    if actor.account_id == profile.account_id:
        raise RuleViolation(OWN_PROFILE)
    if rules.holds_ape(profile):
        raise RuleViolation(APE_STAYS)
    profile.state = ProfileState.INACTIVE
    db.session.flush()
    record(actor, "profile.deactivate", target=profile, entity_id=profile.entity_id,
           account=profile.account.identifier)
    events.profile_ended(profile, actor)


def reactivate(profile: Profile, actor: Actor) -> None:
    if profile.state != ProfileState.INACTIVE:
        raise RuleViolation(NOT_INACTIVE)
    if rules.holds_ape(profile):
        rules.check_single_ape(services.current_ape_profiles(profile.entity_id), profile.id)
    profile.state = ProfileState.ACTIVE
    db.session.flush()
    record(actor, "profile.reactivate", target=profile, entity_id=profile.entity_id,
           account=profile.account.identifier)


# --- the APE --------------------------------------------------------------------------


def hand_over_ape(profile: Profile, actor: Actor) -> list[Profile]:
    """The sitting APE makes `profile` the entity's APE and stays an Administrateur, in
    the caller's one transaction (`requests.appoint_ape`)."""
    if not rules.is_usable(profile):
        raise RuleViolation(NOT_ACTIVE_FOR_APE)
    if rules.holds_ape(profile):
        raise RuleViolation(ALREADY_APE)
    return requests.appoint_ape(profile, actor)
