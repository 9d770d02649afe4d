"""The level of assurance (`acr`) a request needs, and the login check that steps the
session up to it rather than refusing it.

The ladder is `idp.core.assurance.ACR_LADDER` (eidas1: password; eidas2: password and a
second factor). A request needs the highest of:
- the client's `required_acr` (a setting of the registry): mandatory;
- the `required_acr` of the client's domains (the catalogue's): mandatory;
- an essential `acr` of the `claims` parameter (OIDC Core 5.5.1.1): mandatory, the
  lowest of the values asked that we support (any of them will do);
- `acr_values` (OIDC Core 3.1.2.1): voluntary, the lowest supported value listed; the
  session is stepped up only if the person has a second factor to step up with.
A mandatory level the person cannot reach yet (no second factor) still asks the login
page, which tells him to enrol.
"""

from __future__ import annotations

from typing import Any

from idp.directory import services
from idp.directory.models import Account
from idp.extensions import db
from idp.mfa import service as second_factor
from idp.oidc.authorization.flow import Flow
from idp.oidc.registry import registry
from idp.web.session import ACR_LADDER, LoginState, acr_reaches


def _lowest(values: Any) -> str | None:
    values = values if isinstance(values, list) else [values]
    return next((level for level in ACR_LADDER if level in values), None)


def _highest(levels: list[str | None]) -> str | None:
    known = [level for level in levels if level is not None]
    return max(known, key=ACR_LADDER.index) if known else None


def _essential_acr(flow: Flow) -> str | None:
    claims = flow.claims_request or {}
    levels = []
    for target in ("id_token", "userinfo"):
        acr = (claims.get(target) or {}).get("acr")
        if isinstance(acr, dict) and acr.get("essential") is True:
            levels.append(_lowest(acr.get("values", acr.get("value"))))
    return _highest(levels)


def _required_by_domains(domains: list[str]) -> list[str]:
    """The levels a client's domains require, read through the registry (which watches
    the domains): asked at every authorization request, changed with the catalogue."""
    return registry().cached("domains-acr:" + ",".join(sorted(domains)),
                             lambda: services.required_acr_of_domains(domains))


def required_acr(flow: Flow) -> str | None:
    """The level the request cannot do without."""
    client = flow.client
    registered = [client.required_acr, *_required_by_domains(client.domains)] \
        if client is not None else []
    return _highest([*registered, _essential_acr(flow)])


def acr_too_low(flow: Flow, login: LoginState | None) -> bool:
    """The person signed in has not reached the level the request needs (or would
    like, if he can)."""
    if login is None:
        return False
    required = required_acr(flow)
    if required is not None and not acr_reaches(login.acr, required):
        return True
    wished = _lowest((flow.params.get("acr_values") or "").split())
    if wished is None or acr_reaches(login.acr, wished):
        return False
    account = db.session.get(Account, login.account_id)
    return account is not None and second_factor.has_second_factor(account)
