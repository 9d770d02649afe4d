"""What the header of every page shows: the person, the profile menu, their pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, session

from idp.directory import rules
from idp.directory.entities import appoints_someone
from idp.directory.models import Account, Profile
from idp.web.access import current_account, is_national_admin, oversight

ACTIVE_PROFILE = "active_profile_id"  # session key: the profile chosen in the menu


def active_profile(account: Account) -> Profile | None:
    usable = [p for p in account.profiles if rules.is_usable(p)]
    chosen = session.get(ACTIVE_PROFILE)
    return next((p for p in usable if p.id == chosen), usable[0] if usable else None)


def navigation() -> dict[str, Any]:
    """What the header's menu shows: the person, the profile menu, their pages."""
    if not has_request_context() or getattr(session, "store_error", False):
        return {"nav": None}
    account = current_account()
    if account is None:
        return {"nav": None}
    overseer = "national.entities" in current_app.view_functions and bool(oversight(account))
    return {"nav": {
        "account": account,
        "profiles": [p for p in account.profiles if rules.is_usable(p)],
        "active": active_profile(account),
        "national_admin": is_national_admin(account),
        # National, ARS and CD administrators: the entities they oversee, the APEs they
        # appoint (only where the national pages are installed).
        "overseer": overseer,
        # An OG's administrators appoint the APEs of its establishments: « Nomination des
        # APE » is theirs too (asked of the database for administrators only).
        "appointer": overseer or ("national.appointments" in current_app.view_functions
                                  and appoints_someone(account)),
        "administrator": any(rules.is_usable(p) and rules.is_admin_profile(p)
                             for p in account.profiles),
        "endpoints": current_app.view_functions,
    }}


def install(app: Flask) -> None:
    app.context_processor(navigation)
