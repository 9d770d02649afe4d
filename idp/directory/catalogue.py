"""The catalogue of domains and roles is data: a TOML file loaded into the database.

A domain may say `required_acr = "eidas2"`: every login to its applications then needs
the second factor. A domain without the key keeps the level it has (set by `idp
catalogue require-acr`), so that reloading the shipped catalogue never lowers it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from idp.core.assurance import ACR_LADDER
from idp.core.audit import Actor
from idp.core.errors import RuleViolation
from idp.directory import services
from idp.directory.models import Domain, Role
from idp.extensions import db

_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_GROUP = re.compile(r"^[a-z0-9_-]+$")
CODE_MAX = {"domain": Domain.__table__.c.code.type.length,
            "role": Role.__table__.c.code.type.length}
LABEL_MAX = Role.__table__.c.label.type.length
GROUP_MAX = Role.__table__.c.exclusive_group.type.length


class CatalogueError(RuleViolation):
    pass


class InvalidEntry(CatalogueError):
    """A code, label or group that the catalogue refuses; `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class UnknownDomain(CatalogueError):
    pass


def _code(kind: str, raw: str, field: str) -> str:
    code = raw.strip().upper()
    if not _CODE.match(code) or len(code) > CODE_MAX[kind]:
        raise InvalidEntry(field, f"Code « {raw.strip()} » invalide : une lettre, puis des "
                                  f"lettres, chiffres ou _ ({CODE_MAX[kind]} au plus).")
    return code


def _label(raw: str | None, field: str) -> str:
    label = " ".join((raw or "").split())
    if not label or len(label) > LABEL_MAX:
        raise InvalidEntry(field, f"Le libellé est obligatoire ({LABEL_MAX} caractères au "
                                  "plus).")
    return label


def add_domain(code: str, label: str, actor: Actor, description: str | None = None
               ) -> Domain:
    """A new domain of the catalogue (an application or a function)."""
    code = _code("domain", code, "domain")
    if db.session.get(Domain, code) is not None:
        raise InvalidEntry("domain", f"Le domaine {code} existe déjà.")
    return services.upsert_domain(code, _label(label, "domain_label"), actor,
                                  " ".join((description or "").split()) or None)


def add_role(domain_code: str, code: str, label: str, actor: Actor, *,
             domain_label: str | None = None, exclusive: str | None = None) -> Role:
    """Add (or update) a role, creating its domain when `domain_label` is given; roles of
    one domain that share an `exclusive` group cannot be held together."""
    domain = db.session.get(Domain, domain_code.strip().upper())
    if domain is None:
        if not (domain_label or "").strip():
            raise UnknownDomain(f"Domaine inconnu : {domain_code.strip()} (donnez son "
                                "libellé pour le créer).")
        domain = add_domain(domain_code, domain_label or "", actor)
    group = (exclusive or "").strip() or None
    if group is not None and (not _GROUP.match(group) or len(group) > GROUP_MAX):
        raise InvalidEntry("exclusive", f"Groupe d'exclusivité « {group} » invalide : "
                                        f"minuscules, chiffres, _ ou - ({GROUP_MAX} au "
                                        "plus).")
    return services.upsert_role(domain, _code("role", code, "role"), _label(label, "label"),
                                actor, group)


def default_catalogue_text() -> str:
    return resources.files("idp.directory").joinpath("data/catalogue.toml").read_text("utf-8")


def parse_catalogue(text: str, source: str = "catalogue") -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: invalid TOML ({exc})") from None
    domains = data.get("domains")
    if not isinstance(domains, list):
        raise CatalogueError(f"{source}: expected a [[domains]] array")
    for index, domain in enumerate(domains, 1):
        if not domain.get("code") or not domain.get("label"):
            raise CatalogueError(f"{source}: domain #{index} needs a code and a label")
        if "required_acr" in domain and domain["required_acr"] not in ACR_LADDER:
            raise CatalogueError(f"{source}: domain {domain['code']}: required_acr must be "
                                 f"one of {', '.join(ACR_LADDER)}")
        for role in domain.get("roles", []):
            if not role.get("code") or not role.get("label"):
                raise CatalogueError(
                    f"{source}: a role of domain {domain['code']} needs a code and a label"
                )
    return domains


def load_catalogue(actor: Actor, path: Path | None = None) -> tuple[int, int]:
    """Upsert the catalogue (the shipped one by default); returns (domains, roles) counts."""
    text = path.read_text("utf-8") if path else default_catalogue_text()
    domains = parse_catalogue(text, str(path or "catalogue.toml"))
    role_count = 0
    for spec in domains:
        domain = services.upsert_domain(spec["code"], spec["label"], actor,
                                        spec.get("description"))
        if "required_acr" in spec:
            services.require_acr(domain, spec["required_acr"], actor)
        for role in spec.get("roles", []):
            services.upsert_role(domain, role["code"], role["label"], actor,
                                 role.get("exclusive"))
            role_count += 1
    return len(domains), role_count
