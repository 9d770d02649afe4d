"""How Historique writes an audit event for people, on the page and in the CSV export:
the same words in both."""

from __future__ import annotations

from idp.core.audit import ACTION_LABELS, AuditEvent
from idp.core.clock import PARIS
from idp.directory.models import Entity
from idp.oversight.service import Names

TARGETS = {
    "profilerequest": "Demande de profil n°",
    "client": "Application cliente",
    "domain": "Domaine",
    "role": "Rôle",
    "signingkey": "Clé de signature",
    "consent": "Accord n°",
}

COLUMNS = ["Date", "Action", "Par", "Concerné", "Entité", "FINESS", "Détails", "Adresse IP"]


def actor(event: AuditEvent, names: Names) -> str:
    """Who acted: a person, a visitor, the command line or the provider itself."""
    person = names.accounts.get(event.actor) if event.actor_id else None
    if person is not None:
        return f"{person.full_name} ({person.identifier})"
    if event.actor.startswith("anonymous"):
        return "Visiteur non connecté"
    if event.actor.startswith("cli:"):
        return f"Ligne de commande ({event.actor.removeprefix('cli:')})"
    return "Système" if event.actor == "system" else event.actor


def concerned(event: AuditEvent, names: Names) -> str:
    """To whom, or to what, it was done."""
    if event.target_type == "account":
        person = names.accounts.get(event.target_id or "")
        return f"{person.full_name} ({person.identifier})" if person else \
            f"Compte {event.target_id}"
    if event.target_type == "profile":
        profile = names.profiles.get(event.target_id or "")
        if profile is not None:
            return f"{profile.account.full_name} – profil « {profile.label} »"
        return f"Profil n°{event.target_id}"
    if event.target_type is None:
        return ""
    prefix = TARGETS.get(event.target_type, event.target_type)
    return f"{prefix}{'' if prefix.endswith('°') else ' '}{event.target_id or ''}".strip()


def entity_of(event: AuditEvent, names: Names) -> Entity | None:
    if event.entity_id is not None:
        return names.entities.get(event.entity_id)
    profile = names.profiles.get(event.target_id or "") \
        if event.target_type == "profile" else None
    return names.entities.get(profile.entity_id) if profile is not None else None


def details(event: AuditEvent, names: Names) -> str:
    """The role of a habilitation granted or revoked (the other details stay in the log:
    they may hold a person's former address or phone)."""
    if not event.action.startswith("habilitation."):
        return ""
    key = (event.details.get("domain", ""), event.details.get("role", ""))
    role = names.roles.get(key)
    return f"{role.domain.label} – {role.label}" if role else " – ".join(key)


def row(event: AuditEvent, names: Names) -> dict[str, str]:
    entity = entity_of(event, names)
    return {
        "Date": event.at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S"),
        "Action": ACTION_LABELS.get(event.action, event.action),
        "Par": actor(event, names),
        "Concerné": concerned(event, names),
        "Entité": entity.name if entity else "",
        "FINESS": (entity.finess or "") if entity else "",
        "Détails": details(event, names),
        "Adresse IP": event.ip or "",
    }
