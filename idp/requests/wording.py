"""How the request pages and mails name things, in the guide's words."""

from __future__ import annotations

from idp.directory.enums import EntityType
from idp.directory.models import Entity

_KINDS = {
    EntityType.ET: "l'établissement géographique",
    EntityType.EJ: "l'établissement juridique",
    EntityType.ARS: "l'agence régionale de santé",
    EntityType.CD: "le conseil départemental",
    EntityType.NAT: "l'opérateur national",
}


def entity_name(entity: Entity) -> str:
    """'EHPAD LES TILLEULS (580003028)'."""
    return entity.display_name


def entity_phrase(entity: Entity) -> str:
    """"l'établissement géographique EHPAD LES TILLEULS (580003028)", as in the guide."""
    return f"{_KINDS[EntityType(entity.type)]} {entity_name(entity)}"


def entity_choice(entity: Entity) -> str:
    """An item of the « Entité » list: the phrase, and the city when there is one."""
    city = f" à {entity.city}" if entity.city else ""
    return f"{entity_phrase(entity)}{city}"


def recipients_line(entities: list[Entity]) -> str:
    """« Votre demande sera envoyée aux administrateurs Plage sur … »."""
    names = " et ".join(entity_phrase(e) for e in entities)
    return f"Votre demande sera envoyée aux administrateurs Plage sur {names}."
