"""The catalogue of domains and roles is data: a TOML file loaded into the database.

A domain may say `required_acr = "eidas2"`: every login to its applications then needs
the second factor. A domain without the key keeps the level it has (set by `idp
catalogue require-acr`), so that reloading the shipped catalogue never lowers it.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from idp.core.assurance import ACR_LADDER
from idp.core.audit import Actor
from idp.core.errors import RuleViolation
from idp.directory import services


class CatalogueError(RuleViolation):
    pass


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
