"""The directory's rules, as plain functions.

They know nothing of Flask, SQL or OIDC: they take objects with the attributes named in
the protocols below (the SQLAlchemy models qualify, so do test doubles) and answer a
question or raise a `RuleViolation` whose message is shown as is to French users. The
web views, the CLI and the OIDC layer all call these, so each rule lives here only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from idp.core.errors import RuleViolation
from idp.directory.enums import AccountState, EntityLevel, EntityType, ProfileState

ADMINISTRATION = "ADMINISTRATION"
APE = "APE"  # Administrateur principal d'établissement: exactly one per entity
ADMINISTRATEUR = "ADMINISTRATEUR"
ADMIN_ROLES = frozenset({APE, ADMINISTRATEUR})

# An EJ managing at least this many establishments is an organisme gestionnaire (OG).
OG_MIN_ESTABLISHMENTS = 2


class ExclusiveRoleConflict(RuleViolation):
    pass


class ApeAlreadyAppointed(RuleViolation):
    pass


class NotTheSamePerson(RuleViolation):
    pass


class RoleLike(Protocol):
    domain_code: str
    code: str
    label: str
    exclusive_group: str | None


class EntityLike(Protocol):
    id: int
    type: EntityType
    region: str | None
    departement: str | None
    managing_og_id: int | None


class AccountLike(Protocol):
    state: AccountState


class MergeableAccount(Protocol):
    id: int
    state: AccountState
    name_key: str


class HabilitationLike(Protocol):
    role: RoleLike


class ProfileLike(Protocol):
    id: int
    state: ProfileState
    entity_id: int
    account: AccountLike
    habilitations: Sequence[HabilitationLike]


# --- entities -------------------------------------------------------------------------

_LEVELS = {
    EntityType.ET: EntityLevel.ETABLISSEMENT,
    EntityType.EJ: EntityLevel.ETABLISSEMENT,
    EntityType.ARS: EntityLevel.REGIONAL,
    EntityType.CD: EntityLevel.REGIONAL,
    EntityType.NAT: EntityLevel.NATIONAL,
}


def entity_level(entity_type: EntityType) -> EntityLevel:
    return _LEVELS[EntityType(entity_type)]


def claimed_entity_type(entity_type: EntityType, managed_establishments: int) -> str:
    """The type relying applications see: an EJ managing two or more FINESS is an OG."""
    if entity_type == EntityType.EJ and managed_establishments >= OG_MIN_ESTABLISHMENTS:
        return "OG"
    return str(entity_type)


@dataclass(frozen=True)
class AuthorityLookup:
    """How `appointing_entities` finds the level above (the service binds these to SQL)."""

    entity_by_id: Callable[[int], EntityLike | None]
    ars_of_region: Callable[[str], EntityLike | None]
    cds_of_departement: Callable[[str], Iterable[EntityLike]]
    national_entities: Callable[[], Iterable[EntityLike]]


def appointing_entities(entity: EntityLike, lookup: AuthorityLookup) -> list[EntityLike]:
    """The entities whose administrators appoint `entity`'s APE (principle 4).

    An establishment managed by an OG: the OG. Otherwise an establishment answers to the
    ARS of its region and the CD of its département. A regional entity answers to the
    national level, and so does the national level itself.
    """
    level = entity_level(entity.type)
    if level == EntityLevel.ETABLISSEMENT:
        if entity.managing_og_id and entity.managing_og_id != entity.id:
            og = lookup.entity_by_id(entity.managing_og_id)
            if og is not None:
                return [og]
        above: list[EntityLike] = []
        if entity.region:
            ars = lookup.ars_of_region(entity.region)
            if ars is not None:
                above.append(ars)
        if entity.departement:
            above.extend(lookup.cds_of_departement(entity.departement))
        if above:
            return above
    return list(lookup.national_entities())


# --- roles ----------------------------------------------------------------------------


def _role_key(role: RoleLike) -> tuple[str, str]:
    return (role.domain_code, role.code)


def exclusive_conflicts(roles: Iterable[RoleLike]) -> list[tuple[RoleLike, ...]]:
    """Groups of roles held together although their domain makes them exclusive."""
    groups: dict[tuple[str, str], dict[tuple[str, str], RoleLike]] = defaultdict(dict)
    for role in roles:
        if role.exclusive_group:
            groups[(role.domain_code, role.exclusive_group)][_role_key(role)] = role
    return [tuple(g.values()) for g in groups.values() if len(g) > 1]


def check_can_grant(held: Iterable[RoleLike], role: RoleLike) -> None:
    """Refuse a role that is exclusive with one the profile already holds."""
    if not role.exclusive_group:
        return
    for other in held:
        if (
            other.domain_code == role.domain_code
            and other.exclusive_group == role.exclusive_group
            and other.code != role.code
        ):
            raise ExclusiveRoleConflict(
                f"Les rôles « {other.label} » et « {role.label} » du domaine "
                f"{role.domain_code} sont exclusifs : un profil ne peut en détenir qu'un. "
                f"Retirez d'abord le rôle « {other.label} »."
            )


def check_single_ape(current_ape_profile_ids: Iterable[int], profile_id: int) -> None:
    """Principle 3: one APE per entity. Appointing a second one must replace the first."""
    others = [pid for pid in current_ape_profile_ids if pid != profile_id]
    if others:
        raise ApeAlreadyAppointed(
            "Cette entité a déjà un administrateur principal d'établissement (APE). "
            "Il ne peut y en avoir qu'un par entité : retirez-lui d'abord ce rôle."
        )


def profile_roles(profile: ProfileLike) -> list[RoleLike]:
    return [h.role for h in profile.habilitations]


def is_ape_role(role: RoleLike) -> bool:
    """The Administrateur principal d'établissement role (one holder per entity)."""
    return role.domain_code == ADMINISTRATION and role.code == APE


def holds_ape(profile: ProfileLike) -> bool:
    return any(is_ape_role(r) for r in profile_roles(profile))


def is_admin_profile(profile: ProfileLike) -> bool:
    return any(
        r.domain_code == ADMINISTRATION and r.code in ADMIN_ROLES for r in profile_roles(profile)
    )


def is_usable(profile: ProfileLike) -> bool:
    return profile.state == ProfileState.ACTIVE and profile.account.state == AccountState.ACTIVE


# --- administration -------------------------------------------------------------------


def may_administer(admin_profiles: Iterable[ProfileLike], entity_id: int) -> bool:
    """Principle 3: an entity's administrators (APE or Administrateur) manage its profiles."""
    return any(
        is_usable(p) and is_admin_profile(p) and p.entity_id == entity_id for p in admin_profiles
    )


def may_hand_over_ape(admin_profiles: Iterable[ProfileLike], entity_id: int) -> bool:
    """The entity's sitting APE hands his role over to another of its profiles (he stays
    an Administrateur); otherwise the level above appoints the APE (principle 4) when it
    accepts an APE request."""
    return any(is_usable(p) and holds_ape(p) and p.entity_id == entity_id
               for p in admin_profiles)


def may_appoint_ape(
    admin_profiles: Iterable[ProfileLike], entity: EntityLike, lookup: AuthorityLookup
) -> bool:
    """Principle 4: the level above appoints an entity's APE."""
    above = {e.id for e in appointing_entities(entity, lookup)}
    return any(
        is_usable(p) and is_admin_profile(p) and p.entity_id in above for p in admin_profiles
    )


@dataclass(frozen=True)
class Oversight:
    """The entities an administrator of the national or regional level sees: every one
    (national), those of his ARS's regions, those of his CD's départements."""

    national: bool = False
    regions: frozenset[str] = frozenset()
    departements: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.national or bool(self.regions or self.departements)

    def covers(self, entity: EntityLike) -> bool:
        return (self.national or entity.region in self.regions
                or entity.departement in self.departements)


def oversight(admin_profiles: Iterable[ProfileLike], entities: dict[int, EntityLike]
              ) -> Oversight:
    """What the usable administrator profiles among `admin_profiles` oversee: an ARS its
    region, a CD its département, a national entity everything. `entities` maps the
    profiles' entity ids to their entities."""
    national, found_regions, found_departements = False, set(), set()
    for profile in admin_profiles:
        entity = entities.get(profile.entity_id)
        if entity is None or not (is_usable(profile) and is_admin_profile(profile)):
            continue
        if entity.type == EntityType.NAT:
            national = True
        elif entity.type == EntityType.ARS and entity.region:
            found_regions.add(entity.region)
        elif entity.type == EntityType.CD and entity.departement:
            found_departements.add(entity.departement)
    return Oversight(national, frozenset(found_regions), frozenset(found_departements))


# --- login ----------------------------------------------------------------------------

# A domain held on at most this many entities lives on dedicated entities of its own.
DEDICATED_ENTITIES_MAX = 3


def entities_to_request(own_entity_ids: Iterable[int], holders: Iterable[EntityLike]
                        ) -> list[EntityLike]:
    """Where a person without a valid right asks for a profile when the application's
    domain lives on a few dedicated entities (a SAGA Directeurs right lives on ET CNG
    SAGA): those entities, if he belongs to none of them. `holders` are the entities
    whose profiles hold the domain's roles; a domain held on many (ANCRE on every
    establishment) is asked of the administrators of one's own entity instead."""
    own, found = set(own_entity_ids), list(holders)
    if len(found) > DEDICATED_ENTITIES_MAX or any(e.id in own for e in found):
        return []
    return found



def roles_in_domains(profile: ProfileLike, domains: Iterable[str]) -> dict[str, list[str]]:
    """The profile's roles, restricted to `domains`, as {"DOMAIN": ["ROLE", ...]}."""
    wanted = set(domains)
    result: dict[str, list[str]] = {}
    for role in profile_roles(profile):
        if role.domain_code in wanted:
            result.setdefault(role.domain_code, []).append(role.code)
    return {d: sorted(codes) for d, codes in sorted(result.items())}


def eligible_profiles(profiles: Iterable[ProfileLike], domains: Iterable[str]) -> list[ProfileLike]:
    """Active profiles of an active account holding at least one role in `domains`."""
    wanted = list(domains)
    return [p for p in profiles if is_usable(p) and roles_in_domains(p, wanted)]


def conflicts_in_domains(profile: ProfileLike, domains: Iterable[str]
                         ) -> list[tuple[RoleLike, ...]]:
    """The exclusive roles the profile holds together within `domains`."""
    wanted = set(domains)
    return exclusive_conflicts(r for r in profile_roles(profile) if r.domain_code in wanted)


@dataclass(frozen=True)
class ProfilesForClient:
    """Which of a person's profiles may sign in to a client registered for some domains."""

    usable: list[ProfileLike]
    # Eligible, but holding two exclusive roles in the client's domains: they cannot be
    # used until an administrator removes one (the login page says so).
    conflicted: list[ProfileLike]


def profiles_for_client(profiles: Iterable[ProfileLike], domains: Iterable[str]
                        ) -> ProfilesForClient:
    """The one rule for login, refresh and userinfo: eligible and free of conflicts."""
    wanted = list(domains)
    eligible = eligible_profiles(profiles, wanted)
    conflicted = [p for p in eligible if conflicts_in_domains(p, wanted)]
    return ProfilesForClient(usable=[p for p in eligible if p not in conflicted],
                             conflicted=conflicted)


def may_use_for_client(profile: ProfileLike, domains: Iterable[str]) -> bool:
    return bool(profiles_for_client([profile], domains).usable)


def is_national_admin(profiles: Iterable[ProfileLike], entity_types: dict[int, EntityType]) -> bool:
    """An administrator of a national entity: may register client applications and extend
    the catalogue. `entity_types` maps the profiles' entity ids to their types."""
    return any(
        is_usable(p) and is_admin_profile(p) and entity_types.get(p.entity_id) == EntityType.NAT
        for p in profiles
    )


# --- accounts -------------------------------------------------------------------------


def check_email_address(email: str) -> None:
    """One address, with something on both sides of a single '@' and no blank."""
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise RuleViolation(f"Adresse électronique invalide : {email}")


def check_mergeable(kept: MergeableAccount, closed: MergeableAccount) -> None:
    """Regroupement de compte (principle 1, one account per person): the profiles of
    `closed` may move to `kept` only if both accounts are the same person's, which the
    directory knows by their names (`name_key`, the duplicate check of « Créer un
    compte »)."""
    if kept.id == closed.id:
        raise RuleViolation("Vous êtes déjà connecté avec ce compte : saisissez "
                            "l'identifiant et le mot de passe de votre second compte.")
    if closed.state != AccountState.ACTIVE or kept.state != AccountState.ACTIVE:
        raise RuleViolation("Seuls deux comptes actifs peuvent être regroupés.")
    if kept.name_key != closed.name_key:
        raise NotTheSamePerson(
            "Ces deux comptes ne portent pas les mêmes nom et prénom : seuls les comptes "
            "d'une même personne peuvent être regroupés. Si vous avez changé de nom, "
            "mettez d'abord à jour vos informations personnelles sur l'un des deux "
            "comptes."
        )
