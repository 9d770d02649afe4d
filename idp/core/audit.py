"""The append-only audit log: who did what to whom, when, from which address.

Every domain records its changes here, in the transaction of the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from idp.core.clock import utcnow
from idp.extensions import UTCDateTime, db

# What each audited action is called on the pages (Mon historique, the administrators'
# Historique, its CSV export); an action not listed shows its code.
ACTION_LABELS = {
    "account.create": "Création du compte",
    "account.update": "Modification des informations personnelles",
    "account.email_change_request": "Demande de changement d'adresse électronique",
    "account.email_change": "Changement d'adresse électronique",
    "account.password": "Changement de mot de passe",
    "account.password_reset_request": "Demande de réinitialisation du mot de passe",
    "account.identifier_reminder": "Envoi d'un rappel d'identifiant",
    "account.duplicate_notice": "Demande de compte au même nom",
    "account.mail_check": "Envoi d'un courriel de test",
    "account.merge": "Regroupement de compte",
    "account.close": "Fermeture du compte",
    "login.success": "Connexion",
    "login.failure": "Échec de connexion",
    "second_factor.enrolled": "Activation de la double authentification",
    "second_factor.disabled": "Désactivation de la double authentification",
    "second_factor.reset": "Réinitialisation de la double authentification",
    "second_factor.recovery_code_used": "Utilisation d'un code de secours",
    "second_factor.recovery_codes_renewed": "Nouveaux codes de secours",
    "passkey.registered": "Ajout d'une clé d'accès",
    "passkey.removed": "Suppression d'une clé d'accès",
    "logout": "Déconnexion",
    "consent.give": "Accord donné à une application",
    "consent.withdraw": "Accord retiré à une application",
    "profile.create": "Création d'un profil",
    "profile.contact": "Modification d'un profil",
    "profile.deactivate": "Désactivation d'un profil",
    "profile.reactivate": "Réactivation d'un profil",
    "profile.grants_revoked": "Fin des connexions aux applications d'un profil",
    "habilitation.grant": "Habilitation attribuée",
    "habilitation.revoke": "Habilitation retirée",
    "profile_request.submit": "Demande de profil envoyée",
    "profile_request.withdraw": "Demande de profil retirée",
    "profile_request.accept": "Demande de profil acceptée",
    "profile_request.refuse": "Demande de profil refusée",
    "ape.appoint": "Nomination comme administrateur principal",
    "ape.demote": "Fin du rôle d'administrateur principal",
    "clients.create": "Enregistrement d'une application cliente",
    "clients.update": "Modification d'une application cliente",
    "clients.rotate_secret": "Nouveau secret d'une application cliente",
    "clients.disable": "Désactivation d'une application cliente",
    "clients.enable": "Réactivation d'une application cliente",
    "catalogue.domain.create": "Ajout d'un domaine au catalogue",
    "catalogue.domain.update": "Modification d'un domaine du catalogue",
    "catalogue.role.create": "Ajout d'un rôle au catalogue",
    "catalogue.role.update": "Modification d'un rôle du catalogue",
    "entities.import": "Import d'entités",
    "keys.generate": "Création d'une clé de signature",
    "keys.rotate": "Rotation des clés de signature",
    "outbox.abandoned": "Envoi abandonné",
    "mail_check": "Envoi d'un courriel de test",
    "demo.load": "Chargement de l'annuaire de démonstration",
}


class AuditEvent(db.Model):
    """Append-only: who did what to whom, when, from which address."""

    __tablename__ = "audit_events"
    # "What happened to this account, this profile": Mon historique reads it by target;
    # an administrators' Historique walks its entities' events newest first.
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),
                      Index("ix_audit_events_entity_at", "entity_id", "at", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session: Session, _ctx: object, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent):
            raise PermissionError("the audit log is append-only")



@dataclass(frozen=True)
class Actor:
    """Who acts: an account (web pages), or an operator of the command line."""

    label: str
    account_id: int | None = None
    ip: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(label=f"cli:{user}")

    @classmethod
    def system(cls) -> Actor:
        return cls(label="system")


def record(
    actor: Actor,
    action: str,
    *,
    target: Any = None,
    entity_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits with the change itself)."""
    event = AuditEvent(
        actor_id=actor.account_id,
        actor=actor.label,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=_target_id(target),
        entity_id=entity_id,
        ip=actor.ip,
        details=details,
    )
    db.session.add(event)
    return event


def _target_id(target: Any) -> str | None:
    if target is None:
        return None
    for attribute in ("identifier", "client_id", "code", "id"):
        value = getattr(target, attribute, None)
        if value is not None:
            return str(value)
    return None


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_rewrite(state: ORMExecuteState) -> None:
    # models.py refuses changed or deleted AuditEvent objects at flush time; an ORM
    # UPDATE/DELETE statement never reaches the flush, so it is refused here.
    if (state.is_update or state.is_delete) and any(
        mapper.class_ is AuditEvent for mapper in state.all_mappers
    ):
        raise PermissionError("the audit log is append-only")
