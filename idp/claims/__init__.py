"""The claims contract relying applications depend on (see README, "Claims").

- `sub`: the account identifier.
- scope `profile`: given_name, family_name, name, preferred_username.
- scope `email`: the selected profile's email and email_verified.
- scope `phone`: the selected profile's phone_number.
- scope `habilitations`: `profile` {id, label}, `entity` {id, type, finess, name, level,
  departement, region} and `roles` {DOMAIN: [ROLE, ...]} restricted to the client's domains.

Claims asked for one by one with the `claims` request parameter are released too when the
client may have their scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from idp.directory import rules
from idp.directory.models import Account, Profile
from idp.directory.services import claimed_entity_type

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("given_name", "family_name", "name", "preferred_username"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "habilitations": ("profile", "entity", "roles"),
}


def entity_claim(profile: Profile) -> dict[str, Any]:
    entity = profile.entity
    return {
        "id": entity.code,
        "type": claimed_entity_type(entity),
        "finess": entity.finess,
        "name": entity.name,
        "level": str(entity.level),
        "departement": entity.departement,
        "region": entity.region,
    }


def all_claims(account: Account, profile: Profile | None,
               domains: Iterable[str]) -> dict[str, Any]:
    """Every claim of the person with the profile, for a client of `domains`: what the
    token paths keep in memory (idp.oidc.subjects) and `release_claims` chooses from."""
    claims: dict[str, Any] = {
        "given_name": account.given_name,
        "family_name": account.family_name,
        "name": account.full_name,
        "preferred_username": account.identifier,
        "email": profile.effective_email if profile else account.email,
        # Only the account's own address has been verified (by the account holder).
        "email_verified": bool(account.email_verified
                               and (profile is None or profile.email in (None, account.email))),
        "phone_number": (profile.effective_phone if profile else account.phone),
        "phone_number_verified": False,
    }
    if profile is not None:
        claims["profile"] = {"id": str(profile.id), "label": profile.label}
        claims["entity"] = entity_claim(profile)
        claims["roles"] = rules.roles_in_domains(profile, domains)
    return claims


def requested_claim_names(claims_request: dict[str, Any] | None, target: str) -> set[str]:
    """Names asked for in the `claims` parameter for `target` ('id_token' or 'userinfo')."""
    if not isinstance(claims_request, dict):
        return set()
    section = claims_request.get(target)
    return set(section) if isinstance(section, dict) else set()


def scopes_of_claims(names: Iterable[str], allowed_scopes: Iterable[str]) -> set[str]:
    """The allowed scopes that `names` (claims requested one by one) belong to: what
    releasing those claims shares, hence what the person must agree to."""
    wanted = set(names)
    return {scope for scope in allowed_scopes if wanted & set(SCOPE_CLAIMS.get(scope, ()))}


def release_claims(
    values: Mapping[str, Any],
    *,
    sub: str,
    scopes: Iterable[str],
    allowed_scopes: Iterable[str],
    requested: Iterable[str] = (),
) -> dict[str, Any]:
    """The claims for the granted scopes among `values` (`all_claims`), plus individually
    requested ones the client may receive; `sub` always. Claims without a value are left
    out."""
    granted = set(scopes)
    names = {c for scope in granted for c in SCOPE_CLAIMS.get(scope, ())}
    permitted = {c for scope in allowed_scopes for c in SCOPE_CLAIMS.get(scope, ())}
    names |= set(requested) & permitted
    released: dict[str, Any] = {"sub": sub}
    for name in sorted(names):
        if values.get(name) is not None:
            released[name] = values[name]
    return released
