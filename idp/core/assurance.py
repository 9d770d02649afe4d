"""The assurance ladder, lowest first, in the words of the French federations (ProConnect,
FranceConnect+): what the `acr` of a login says was done. The sessions and the
authorization pipeline judge logins by it; the catalogue and the client registry check
the levels they are given against it."""

from __future__ import annotations

ACR_BASIC = "eidas1"  # the password
ACR_SECOND_FACTOR = "eidas2"  # the password and a second factor (a TOTP or recovery code)
ACR_LADDER = (ACR_BASIC, ACR_SECOND_FACTOR)


def acr_reaches(acr: str, wanted: str) -> bool:
    """Whether a login at level `acr` satisfies a requirement of level `wanted`."""
    return acr in ACR_LADDER and ACR_LADDER.index(acr) >= ACR_LADDER.index(wanted)
