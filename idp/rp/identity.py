"""Who is signed in, from the provider's claims, and what a page requires of them.

Plain Python (no Flask): an API that validated an access token builds an `Identity` from
its claims and asks a `Requirement` the same question a page decorator asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The entity types of the claims, as the relying applications name them to users.
ENTITY_TYPE_LABELS: dict[str, str] = {
    "OG": "OG", "EJ": "EJ", "ET": "ESMS", "ARS": "ARS", "CD": "CD", "NAT": "NATIONAL",
}
INSUFFICIENT_PERMISSIONS = ("Vous n'avez pas les permissions suffisantes pour accéder à "
                            "cette page.")
ONLY_ALLOWED = "Seuls les rôles {allowed} sont autorisés"


@dataclass(frozen=True)
class Identity:
    """The person and the profile chosen at login (the claims contract of PLAGE)."""

    claims: Mapping[str, Any]

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def given_name(self) -> str:
        return str(self.claims.get("given_name") or "")

    @property
    def family_name(self) -> str:
        return str(self.claims.get("family_name") or "")

    @property
    def display_name(self) -> str:
        """"Prénom NOM", as the guides greet people."""
        names = [self.given_name, self.family_name.upper()]
        return " ".join(n for n in names if n) or self.sub

    @property
    def email(self) -> str | None:
        return self.claims.get("email")

    @property
    def sid(self) -> str | None:
        return self.claims.get("sid")

    @property
    def profile(self) -> Mapping[str, Any]:
        return self.claims.get("profile") or {}

    @property
    def entity(self) -> Mapping[str, Any]:
        return self.claims.get("entity") or {}

    @property
    def entity_type(self) -> str | None:
        return self.entity.get("type")

    @property
    def roles(self) -> Mapping[str, list[str]]:
        roles = self.claims.get("roles")
        return roles if isinstance(roles, dict) else {}

    def roles_in(self, domain: str) -> list[str]:
        found = self.roles.get(domain)
        return [str(r) for r in found] if isinstance(found, list) else []


def default_role_label(code: str) -> str:
    """'GESTIONNAIRE_FICHIERS' -> 'Gestionnaire fichiers' (applications give better)."""
    return code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Requirement:
    """A role in a domain and/or an entity type ("OG, ESMS, ARS, CD, NATIONAL only")."""

    domain: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    entity_types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, domain: str | None = None, roles: Iterable[str] | None = None,
           entity_types: Iterable[str] | None = None) -> Requirement:
        if roles and not domain:
            raise ValueError("roles belong to a domain: give the domain too")
        unknown = set(entity_types or ()) - set(ENTITY_TYPE_LABELS)
        if unknown:
            raise ValueError(f"unknown entity type(s): {', '.join(sorted(unknown))}")
        return cls(domain, frozenset(roles or ()), frozenset(entity_types or ()))

    def allows(self, identity: Identity) -> bool:
        if self.entity_types and identity.entity_type not in self.entity_types:
            return False
        if self.domain is None:
            return True
        held = set(identity.roles_in(self.domain))
        return bool(held & self.roles) if self.roles else bool(held)

    def allowed(self, role_labels: Mapping[str, str] | None = None) -> str:
        """Who may enter, in words: "OG, ESMS, ARS, CD, NATIONAL"."""
        labels = role_labels or {}
        roles = ", ".join(labels.get(r) or default_role_label(r) for r in sorted(self.roles))
        types = ", ".join(ENTITY_TYPE_LABELS[t] for t in ENTITY_TYPE_LABELS
                          if t in self.entity_types)
        if roles and types:
            return f"{roles} ({types})"
        return roles or types or f"du domaine {self.domain}"

    def refusal(self, role_labels: Mapping[str, str] | None = None) -> str:
        return ONLY_ALLOWED.format(allowed=self.allowed(role_labels))
