"""Directory operations: the rules applied to the database, with an audit trail.

Each operation adds its changes and its audit event to the current session and leaves
the commit to the caller (a web request, a CLI command), so that a change and its audit
record land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from idp.core.assurance import ACR_BASIC, ACR_LADDER
from idp.core.audit import Actor, record
from idp.core.errors import NotFound, RuleViolation
from idp.directory import rules
from idp.directory.enums import AccountState, EntityType, ProfileState
from idp.directory.folding import fold
from idp.directory.identifiers import new_identifier
from idp.directory.models import (
    Account,
    DirectoryEpoch,
    Domain,
    Entity,
    Habilitation,
    Profile,
    Role,
)
from idp.directory.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from idp.extensions import db


def name_key(given_name: str, family_name: str) -> str:
    """'Élodie', 'Dupont-Martin' -> 'dupont martin elodie' (for the duplicate check)."""
    return fold(f"{family_name} {given_name}")


# --- entities -------------------------------------------------------------------------


def get_entity(code: str) -> Entity:
    wanted = code.strip().upper()
    entity = db.session.scalar(
        select(Entity).where(or_(Entity.code == wanted, Entity.finess == wanted))
    )
    if entity is None:
        raise NotFound(f"Entité inconnue : {code}")
    return entity


def managed_establishments(entity: Entity) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Entity).where(Entity.managing_og_id == entity.id)
    ) or 0


def claimed_entity_type(entity: Entity) -> str:
    count = managed_establishments(entity) if entity.type == EntityType.EJ else 0
    return rules.claimed_entity_type(entity.type, count)


def authority_lookup() -> rules.AuthorityLookup:
    def ars_of_region(region: str) -> Entity | None:
        return db.session.scalar(
            select(Entity).where(Entity.type == EntityType.ARS, Entity.region == region)
        )

    def cds_of_departement(dep: str) -> list[Entity]:
        return list(db.session.scalars(
            select(Entity).where(Entity.type == EntityType.CD, Entity.departement == dep)
        ))

    def national_entities() -> list[Entity]:
        return list(db.session.scalars(select(Entity).where(Entity.type == EntityType.NAT)))

    return rules.AuthorityLookup(
        entity_by_id=lambda entity_id: db.session.get(Entity, entity_id),
        ars_of_region=ars_of_region,
        cds_of_departement=cds_of_departement,
        national_entities=national_entities,
    )


def administrators_of(entity: Entity) -> list[Profile]:
    """Active profiles holding APE or Administrateur on `entity` (the APE first)."""
    profiles = db.session.scalars(
        select(Profile)
        .join(Habilitation).join(Role)
        .where(
            Profile.entity_id == entity.id,
            Profile.state == ProfileState.ACTIVE,
            Role.domain_code == rules.ADMINISTRATION,
            Role.code.in_(rules.ADMIN_ROLES),
        )
        .options(selectinload(Profile.account), selectinload(Profile.habilitations))
        .distinct()
    ).all()
    usable = [p for p in profiles if rules.is_usable(p)]
    return sorted(usable, key=lambda p: (not rules.holds_ape(p), p.id))


@dataclass(frozen=True)
class Contacts:
    """Whom a person of `entity` asks for a role: its administrators or, while it has
    none, the administrators of the level that appoints its APE (principle 4); never
    the person asking, who is told instead that he administers it himself."""

    entity: Entity
    administrators: list[Profile]
    appointers: list[tuple[Entity, list[Profile]]]
    asker_administers: bool = False


def contacts_for(entity: Entity, asker: Account | None = None) -> Contacts:
    def others(profiles: list[Profile]) -> list[Profile]:
        return [p for p in profiles if asker is None or p.account_id != asker.id]

    admins = administrators_of(entity)
    if admins:
        return Contacts(entity, others(admins), [],
                        asker_administers=len(others(admins)) < len(admins))
    above = rules.appointing_entities(entity, authority_lookup())
    return Contacts(entity, [], [(e, others(administrators_of(e))) for e in above])


def entities_holding(domains: Iterable[str], limit: int) -> list[Entity]:
    """Up to `limit` active entities whose active profiles hold a role in `domains`."""
    ids = select(Profile.entity_id).join(Habilitation).join(Role).where(
        Role.domain_code.in_(list(domains)), Profile.state == ProfileState.ACTIVE
    ).distinct().limit(limit)
    return list(db.session.scalars(
        select(Entity).where(Entity.id.in_(ids), Entity.active).order_by(Entity.name)))


# --- accounts -------------------------------------------------------------------------


def get_account(identifier: str) -> Account:
    account = db.session.scalar(select(Account).where(Account.identifier == identifier.strip()))
    if account is None:
        raise NotFound(f"Compte inconnu : {identifier}")
    return account


def create_account(
    *,
    given_name: str,
    family_name: str,
    email: str,
    actor: Actor,
    password: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    identifier: str | None = None,
    password_min_length: int,
) -> Account:
    given_name, family_name, email = given_name.strip(), family_name.strip(), email.strip()
    if not given_name or not family_name:
        raise RuleViolation("Le nom et le prénom sont obligatoires.")
    rules.check_email_address(email)
    if password is not None:
        check_password_policy(password, password_min_length)

    def taken(candidate: str) -> bool:
        return db.session.scalar(
            select(Account.id).where(Account.identifier == candidate)
        ) is not None

    if identifier is None:
        identifier = new_identifier(taken)
    elif taken(identifier):
        raise RuleViolation(f"L'identifiant {identifier} est déjà attribué.")
    account = Account(
        identifier=identifier,
        given_name=given_name,
        family_name=family_name,
        name_key=name_key(given_name, family_name),
        email=email,
        phone=phone,
        address=address,
        password_hash=hash_password(password) if password else None,
        state=AccountState.ACTIVE,
    )
    db.session.add(account)
    db.session.flush()
    record(actor, "account.create", target=account)
    return account


def set_password(account: Account, password: str, actor: Actor, min_length: int) -> None:
    check_password_policy(password, min_length)
    account.password_hash = hash_password(password)
    record(actor, "account.password", target=account)


def authenticate(identifier: str, password: str) -> Account | None:
    """The active account with this identifier and password, or None (same cost either way)."""
    account = db.session.scalar(select(Account).where(Account.identifier == identifier.strip()))
    ok = verify_password(account.password_hash if account else None, password)
    if not ok or account is None or account.state != AccountState.ACTIVE:
        return None
    if needs_rehash(account.password_hash or ""):
        # Stronger hashing parameters since this hash was made: upgrade it now that the
        # password is known (it commits with the login's own changes).
        account.password_hash = hash_password(password)
    return account


def accounts_named(given_name: str, family_name: str) -> Sequence[Account]:
    return db.session.scalars(
        select(Account).where(Account.name_key == name_key(given_name, family_name))
    ).all()


# --- profiles and habilitations -------------------------------------------------------


def create_profile(
    account: Account,
    entity: Entity,
    *,
    label: str,
    actor: Actor,
    state: ProfileState = ProfileState.ACTIVE,
    email: str | None = None,
    phone: str | None = None,
) -> Profile:
    label = label.strip()
    if not label:
        raise RuleViolation("Le libellé du profil est obligatoire.")
    profile = Profile(
        account=account, entity=entity, label=label, state=state, email=email, phone=phone
    )
    db.session.add(profile)
    db.session.flush()
    record(actor, "profile.create", target=profile, entity_id=entity.id,
           account=account.identifier, label=label, state=str(state))
    return profile


def get_profile(profile_id: int) -> Profile:
    profile = db.session.get(Profile, profile_id)
    if profile is None:
        raise NotFound(f"Profil inconnu : {profile_id}")
    return profile


def get_role(domain_code: str, role_code: str) -> Role:
    role = db.session.scalar(
        select(Role).where(Role.domain_code == domain_code.strip().upper(),
                           Role.code == role_code.strip().upper())
    )
    if role is None:
        raise NotFound(f"Rôle inconnu : {domain_code}/{role_code}")
    return role


def current_ape_profiles(entity_id: int) -> list[int]:
    return list(db.session.scalars(
        select(Habilitation.profile_id).join(Role).join(Profile)
        .where(Profile.entity_id == entity_id, Role.domain_code == rules.ADMINISTRATION,
               Role.code == rules.APE, Profile.state != ProfileState.INACTIVE)
    ))


def grant(profile: Profile, role: Role, actor: Actor) -> Habilitation:
    """Give `role` to `profile`, refusing exclusive roles and a second APE."""
    held = rules.profile_roles(profile)
    if any(r.id == role.id for r in held):
        raise RuleViolation(
            f"Le profil « {profile.label} » détient déjà le rôle « {role.label} »."
        )
    rules.check_can_grant(held, role)
    if rules.is_ape_role(role):
        rules.check_single_ape(current_ape_profiles(profile.entity_id), profile.id)
    habilitation = Habilitation(profile=profile, role=role, granted_by_id=actor.account_id)
    db.session.add(habilitation)
    db.session.flush()
    record(actor, "habilitation.grant", target=profile, entity_id=profile.entity_id,
           domain=role.domain_code, role=role.code)
    return habilitation


def revoke(profile: Profile, role: Role, actor: Actor) -> None:
    habilitation = db.session.get(Habilitation, (profile.id, role.id))
    if habilitation is None:
        raise RuleViolation(
            f"Le profil « {profile.label} » ne détient pas le rôle « {role.label} »."
        )
    profile.habilitations.remove(habilitation)
    db.session.flush()
    record(actor, "habilitation.revoke", target=profile, entity_id=profile.entity_id,
           domain=role.domain_code, role=role.code)


# The directory's epoch: read alone here, and with each grant by the token paths.
EPOCH = select(DirectoryEpoch.value).where(DirectoryEpoch.id == 1)


def profiles_for_client(account: Account, domains: Iterable[str]) -> rules.ProfilesForClient:
    """The account's profiles, loaded with their roles and entities in one query, sorted
    by the rule (`rules.profiles_for_client`) for a client registered for `domains`."""
    profiles = db.session.scalars(
        select(Profile).where(Profile.account_id == account.id)
        .options(joinedload(Profile.habilitations).joinedload(Habilitation.role),
                 joinedload(Profile.entity))
        .order_by(Profile.id)
        # As they are now, even if this request loaded them before: the answer is kept
        # under counters read earlier (idp.oidc.subjects).
        .execution_options(populate_existing=True)
    ).unique().all()
    return rules.profiles_for_client(profiles, domains)


def directory_epoch() -> int | None:
    """The counter the database moves on at any change of the entities, roles or
    domains (migration 0012; its one row is made there)."""
    return db.session.scalar(EPOCH)


# --- catalogue ------------------------------------------------------------------------


def upsert_domain(code: str, label: str, actor: Actor, description: str | None = None) -> Domain:
    code = code.strip().upper()
    domain = db.session.get(Domain, code)
    if domain is None:
        domain = Domain(code=code, label=label, description=description)
        db.session.add(domain)
        record(actor, "catalogue.domain.create", target=domain, label=label)
    elif (domain.label, domain.description) != (label, description):
        domain.label, domain.description = label, description
        record(actor, "catalogue.domain.update", target=domain, label=label)
    return domain


def get_domain(code: str) -> Domain:
    domain = db.session.get(Domain, code.strip().upper())
    if domain is None:
        raise NotFound(f"Domaine inconnu : {code}")
    return domain


def require_acr(domain: Domain, level: str | None, actor: Actor) -> None:
    """Make every login to the domain's applications reach `level` (a step of the ladder;
    the lowest, or None, asks no more than the password)."""
    level = (level or "").strip() or ACR_BASIC
    if level not in ACR_LADDER:
        raise RuleViolation(f"Niveau d'authentification inconnu : {level} "
                            f"(parmi {', '.join(ACR_LADDER)}).")
    required = None if level == ACR_BASIC else level
    if domain.required_acr != required:
        domain.required_acr = required
        record(actor, "catalogue.domain.required_acr", target=domain, required_acr=level)


def required_acr_of_domains(codes: Iterable[str]) -> list[str]:
    """The levels that these domains require (none for most)."""
    return list(db.session.scalars(select(Domain.required_acr).where(
        Domain.code.in_(list(codes)), Domain.required_acr.is_not(None))))


def upsert_role(
    domain: Domain, code: str, label: str, actor: Actor, exclusive_group: str | None = None
) -> Role:
    code = code.strip().upper()
    role = db.session.scalar(
        select(Role).where(Role.domain_code == domain.code, Role.code == code)
    )
    if role is None:
        role = Role(domain=domain, code=code, label=label, exclusive_group=exclusive_group)
        db.session.add(role)
        record(actor, "catalogue.role.create", target=role, domain=domain.code, label=label)
    elif (role.label, role.exclusive_group) != (label, exclusive_group):
        role.label, role.exclusive_group = label, exclusive_group
        record(actor, "catalogue.role.update", target=role, domain=domain.code, label=label)
    db.session.flush()
    return role
