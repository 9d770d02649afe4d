"""Check digits: FINESS numbers and PLAGE account identifiers, both keyed with Luhn."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

# [0-9], not \d: \d also matches full-width and other scripts' digits.
_FINESS_SHAPE = re.compile(r"^(?:[0-9]{2}|2[AB])[0-9]{7}$")
# Overseas départements are 971 to 976 (Guadeloupe, Martinique, Guyane, Réunion,
# Saint-Pierre-et-Miquelon, Mayotte); 98x are the overseas collectivities.
_OVERSEAS = {"971", "972", "973", "974", "975", "976"}


class InvalidFiness(ValueError):
    """A FINESS number that cannot be right; the message says why, in French."""


def luhn_checksum_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body + digit` pass the Luhn check."""
    for digit in "0123456789":
        if luhn_checksum_ok(body + digit):
            return digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def finess_departement(finess: str) -> str:
    """The département code a FINESS number starts with ('01'..'95', '2A', '2B', '971'...)."""
    return finess[:3] if finess.startswith("97") else finess[:2]


def validate_finess(raw: str) -> str:
    """Return the normalised FINESS number or raise InvalidFiness with a French message.

    Nine characters: the département (two characters, '2A'/'2B' for Corsica, '97x'
    overseas), six digits, and a Luhn check digit. For Corsica the letter counts as 0
    in the check.
    """
    # Any whitespace goes, including the no-break spaces of French digit grouping.
    finess = "".join((raw or "").split()).upper()
    if len(finess) != 9:
        raise InvalidFiness(f"le numéro FINESS « {raw} » doit compter 9 caractères")
    if not _FINESS_SHAPE.match(finess):
        raise InvalidFiness(
            f"le numéro FINESS « {raw} » ne doit contenir que des chiffres "
            "(2A ou 2B pour la Corse)"
        )
    dep = finess_departement(finess)
    if dep.startswith("97"):
        if dep not in _OVERSEAS:
            raise InvalidFiness(f"le numéro FINESS « {raw} » commence par un département inconnu")
    elif dep in {"00", "20", "96", "98", "99"}:
        raise InvalidFiness(f"le numéro FINESS « {raw} » commence par un département inconnu")
    if not luhn_checksum_ok(finess.replace("A", "0").replace("B", "0")):
        raise InvalidFiness(f"la clé du numéro FINESS « {raw} » est incorrecte")
    return finess


def is_valid_identifier(identifier: str) -> bool:
    """A PLAGE identifier: digits only, at least 6, the last one a Luhn check digit."""
    return (
        identifier.isascii()
        and identifier.isdigit()
        and len(identifier) >= 6
        and luhn_checksum_ok(identifier)
    )


def new_identifier(taken: Callable[[str], bool], *, body_digits: int = 7) -> str:
    """Draw a random identifier not yet taken (never sequential, so not guessable in order).

    Seven random digits plus the check digit leave nine million identifiers, ample for
    the sector's million accounts; a collision is simply drawn again.
    """
    low = 10 ** (body_digits - 1)
    for _ in range(100):
        body = str(low + secrets.randbelow(9 * low))
        identifier = body + luhn_check_digit(body)
        if not taken(identifier):
            return identifier
    raise RuntimeError("could not draw a free account identifier")
