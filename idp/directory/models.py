"""The PLAGE directory: entities, accounts, profiles, the catalogue of domains and roles,
habilitations and profile requests."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from idp.core.clock import utcnow
from idp.directory.enums import (
    AccountState,
    EntityLevel,
    EntityType,
    ProfileState,
    RequestStatus,
)
from idp.directory.folding import entity_search_text
from idp.extensions import UTCDateTime, db


def _enum(cls: type[enum.Enum]) -> Enum:
    # Store the values (readable in SQL), as VARCHAR + CHECK on both backends.
    return Enum(cls, values_callable=lambda e: [m.value for m in e], native_enum=False,
                length=32, validate_strings=True)


class Entity(db.Model):
    __tablename__ = "entities"
    # The « Entité » field searches inside words: a trigram index on PostgreSQL (created
    # by migration 0010 with pg_trgm; a plain index elsewhere, where SQLite scans).
    __table_args__ = (
        Index("ix_entities_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    finess: Mapped[str | None] = mapped_column(String(9), unique=True)
    type: Mapped[EntityType] = mapped_column(_enum(EntityType))
    name: Mapped[str] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(120))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    departement: Mapped[str | None] = mapped_column(String(3), index=True)
    # INSEE region code; 3 characters for the overseas collectivities (975, 977, 978).
    region: Mapped[str | None] = mapped_column(String(3), index=True)
    # The legal entity (EJ) of an establishment; the level above for other types.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"), index=True)
    # The organisme gestionnaire managing this establishment, when there is one.
    managing_og_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # entity_search_text() of the row, kept by the listener below (and by the importer,
    # which writes behind the ORM's back).
    search_text: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    parent: Mapped[Entity | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    managing_og: Mapped[Entity | None] = relationship(
        remote_side=[id], foreign_keys=[managing_og_id]
    )

    @property
    def level(self) -> EntityLevel:
        from idp.directory.rules import entity_level

        return entity_level(self.type)

    @property
    def display_name(self) -> str:
        """How the pages and mails name it: 'EHPAD LES TILLEULS (580003028)'."""
        return f"{self.name} ({self.finess})" if self.finess else self.name

    def __repr__(self) -> str:
        return f"<Entity {self.code} {self.type} {self.name!r}>"


@event.listens_for(Entity, "before_insert")
@event.listens_for(Entity, "before_update")
def _fold_search_text(_mapper: Mapper[Entity], _connection: Connection, entity: Entity) -> None:
    entity.search_text = entity_search_text(entity.finess, entity.code, entity.name,
                                            entity.city)


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(16), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str] = mapped_column(String(120))
    family_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(Text)
    state: Mapped[AccountState] = mapped_column(_enum(AccountState), default=AccountState.ACTIVE)
    # Lower-cased, accent-free "family given" key for the duplicate check at sign-up.
    name_key: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Moved on by the database at any change of the account, its profiles or their
    # habilitations (triggers of migration 0012): the token paths' claims are kept under
    # it (idp.oidc.subjects). Nothing in Python writes it.
    rights_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    profiles: Mapped[list[Profile]] = relationship(
        back_populates="account", order_by="Profile.id", cascade="all, delete-orphan"
    )

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def __repr__(self) -> str:
        return f"<Account {self.identifier}>"


# « Identifiant perdu ? » looks people up by their address whatever its case.
Index("ix_accounts_email_lower", func.lower(Account.email))


class DirectoryEpoch(db.Model):
    """One row whose value the database moves on at any change of the entities, roles
    or domains (triggers of migration 0012): with an account's `rights_version`, what the
    claims kept by the token paths were read under."""

    __tablename__ = "directory_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Profile(db.Model):
    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    label: Mapped[str] = mapped_column(String(255))
    # Overrides of the account's details; None means "inherited from the account".
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[ProfileState] = mapped_column(_enum(ProfileState), default=ProfileState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    account: Mapped[Account] = relationship(back_populates="profiles")
    entity: Mapped[Entity] = relationship()
    habilitations: Mapped[list[Habilitation]] = relationship(
        back_populates="profile", cascade="all, delete-orphan"
    )

    @property
    def effective_email(self) -> str:
        return self.email or self.account.email

    @property
    def effective_phone(self) -> str | None:
        return self.phone or self.account.phone

    def __repr__(self) -> str:
        return f"<Profile {self.id} {self.label!r} {self.state}>"


class Domain(db.Model):
    __tablename__ = "domains"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # The level every login to the domain's applications must reach (`idp.core.assurance`;
    # None: the password will do), like a client's own `required_acr`.
    required_acr: Mapped[str | None] = mapped_column(String(16))

    roles: Mapped[list[Role]] = relationship(back_populates="domain", order_by="Role.id")


class Role(db.Model):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("domain_code", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_code: Mapped[str] = mapped_column(ForeignKey("domains.code"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    # Roles of one domain sharing a group are mutually exclusive on a profile.
    exclusive_group: Mapped[str | None] = mapped_column(String(64))

    domain: Mapped[Domain] = relationship(back_populates="roles")

    def __repr__(self) -> str:
        return f"<Role {self.domain_code}/{self.code}>"


class Habilitation(db.Model):
    __tablename__ = "habilitations"

    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), primary_key=True, index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))

    profile: Mapped[Profile] = relationship(back_populates="habilitations")
    role: Mapped[Role] = relationship()


class ProfileRequest(db.Model):
    """A request for a profile on an entity: from a newcomer (the account is created
    only if an administrator accepts it) or from a signed-in person (`account_id`)."""

    __tablename__ = "profile_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    # The requester's account: set at once for a signed-in person, on acceptance for a
    # newcomer (whose identifier is issued only then).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    new_account: Mapped[bool] = mapped_column(Boolean, default=False)
    wants_ape: Mapped[bool] = mapped_column(Boolean, default=False)
    given_name: Mapped[str] = mapped_column(String(120))
    family_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(255))
    applications: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(
        _enum(RequestStatus), default=RequestStatus.PENDING, index=True
    )
    decision_comment: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The profile created when the request was accepted.
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("profiles.id"))

    entity: Mapped[Entity] = relationship()
    account: Mapped[Account | None] = relationship(foreign_keys=[account_id])
    routes: Mapped[list[RequestRoute]] = relationship(cascade="all, delete-orphan")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class RequestRoute(db.Model):
    """An entity whose administrators decide a request, fixed when it is filed (the
    level above for an APE wish or an entity without administrator): the queues read
    it with one indexed join instead of working the routing out again for every row."""

    __tablename__ = "profile_request_routes"

    request_id: Mapped[int] = mapped_column(ForeignKey("profile_requests.id"),
                                            primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), primary_key=True,
                                           index=True)
