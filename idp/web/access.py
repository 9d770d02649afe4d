"""Who is signed in, and who may see a page.

Every page package asks here: `current_account()`, `@login_required`, and for the
administration pages `@national_admin_required`, `require_administrator_of(entity)` and
`require_decider_of(profile_request)`, which apply the directory's rules (principles 3
and 4) to the person signed in. The
audit actor of a request (`request_actor`) is built here too, the same way everywhere.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import abort, g, redirect, request, url_for

from idp.core.audit import Actor
from idp.directory import requests, rules
from idp.directory.enums import AccountState
from idp.directory.models import Account, Entity, ProfileRequest
from idp.extensions import db
from idp.web.session import LoginState, current_login

NATIONAL_ONLY = "Cette page est réservée aux administrateurs de niveau national."
NOT_ADMINISTRATOR = "Vous n'administrez pas cette entité."


def current_account() -> Account | None:
    """The account signed in to the provider in this browser (looked up once a request,
    and again if the request signs someone in or out); None once it is no longer active
    (closed, merged into another): its open sessions lose the pages at once."""
    state = current_login()
    if state is None:
        return None
    cached = g.get("idp_account")
    if cached is None or cached.id != state.account_id:
        g.idp_account = db.session.get(Account, state.account_id)
    account: Account | None = g.idp_account
    return account if account is not None and account.state == AccountState.ACTIVE else None


def active_login() -> LoginState | None:
    """The login of this browser, as long as its account is still active: a session left
    open by an account closed since counts as nobody signed in."""
    return current_login() if current_account() is not None else None


def signed_in_account() -> Account:
    """The account of a page behind `@login_required`."""
    account = current_account()
    if account is None:
        abort(401)
    return account


def login_required(view: Any) -> Any:
    """Provider pages need a signed-in person; others are sent to the login page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_account() is None:
            return redirect(url_for("login.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def is_national_admin(account: Account) -> bool:
    types = {p.entity_id: p.entity.type for p in account.profiles}
    return rules.is_national_admin(account.profiles, types)


def oversight(account: Account) -> rules.Oversight:
    """The entities the account's national or regional administrator profiles oversee."""
    return rules.oversight(account.profiles, {p.entity_id: p.entity for p in account.profiles})


def national_admin_required(view: Any) -> Any:
    """The national level's pages (the applications registry, the catalogue)."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_national_admin(signed_in_account()):
            abort(403, NATIONAL_ONLY)
        return view(*args, **kwargs)

    return wrapper


def require_administrator_of(entity: Entity) -> Account:
    """The signed-in administrator of `entity` (principle 3), or a 403 page."""
    account = signed_in_account()
    if not rules.may_administer(account.profiles, entity.id):
        abort(403, NOT_ADMINISTRATOR)
    return account


def require_decider_of(profile_request: ProfileRequest) -> Account:
    """The signed-in administrator who may decide `profile_request` (an administrator of
    its entity, or of the level it was routed to), or a 403 page."""
    account = signed_in_account()
    if not requests.may_decide(account.profiles, profile_request):
        abort(403, NOT_ADMINISTRATOR)
    return account


def request_actor(account: Account | None, anonymous: str = "anonymous") -> Actor:
    """The audit actor of this request: `account`, or when None a visitor labelled
    `anonymous`, with the request's address."""
    if account is not None:
        return Actor(label=account.identifier, account_id=account.id, ip=request.remote_addr)
    return Actor(label=anonymous, ip=request.remote_addr)
