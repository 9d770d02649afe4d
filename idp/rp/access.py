"""Protecting an application's pages: `@require(...)`.

    @app.get("/tableau")
    @require(domain="TDBESMS", entity_types={"OG", "ET", "ARS", "CD", "NAT"})
    def dashboard(): ...

Not signed in: to the provider (and back to the page). Session ended: the "session
expirée" page. Signed in without the role or entity type: 403 with the guides' message
naming who is allowed ("Seuls les rôles OG, ESMS, ARS, CD, NATIONAL sont autorisés").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import redirect, session, url_for
from werkzeug.wrappers import Response

from idp.rp import flow
from idp.rp.identity import INSUFFICIENT_PERMISSIONS, Identity, Requirement
from idp.rp.redirects import local_path
from idp.rp.state import kit
from idp.rp.views import Page, expired_page, render_page

View = TypeVar("View", bound=Callable[..., Any])


def check(requirement: Requirement) -> Response | Page | None:
    """None when the current request may go on; otherwise the answer to give."""
    login = flow.signed_in()
    if login is None:
        if getattr(session, "expired", False):
            return expired_page()
        return redirect(url_for("plage_rp.login", next=local_path(flow.here())),
                        code=303)
    if flow.ready_login() is None:  # pairing or account choice not done yet
        return redirect(flow.next_step(), code=303)
    if not flow.ensure_fresh():
        return expired_page()
    identity = flow.current_identity()
    assert identity is not None
    if not requirement.allows(identity):
        return forbidden(requirement, identity)
    return None


def forbidden(requirement: Requirement, identity: Identity) -> Page:
    return render_page("forbidden.html", 403, identity=identity,
                       message=INSUFFICIENT_PERMISSIONS,
                       allowed=requirement.refusal(kit().setting("ROLE_LABELS")))


def require(domain: str | None = None, roles: Iterable[str] | None = None,
            entity_types: Iterable[str] | None = None) -> Callable[[View], View]:
    """A decorator: the view needs a signed-in person holding a role of `domain` (one of
    `roles` when given) on an entity of one of `entity_types` (claims `roles`, `entity`).
    """
    requirement = Requirement.of(domain, roles, entity_types)

    def decorator(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            answer = check(requirement)
            return answer if answer is not None else view(*args, **kwargs)

        return cast(View, guarded)

    return decorator


login_required = require()
