"""Historique and Revue des habilitations, the administrators' oversight pages.

Who sees what is the kernel's and the directory's: a national administrator reads the
whole log, any other administrator the records of the entities he administers
(`requests.administered_entities`) and of their people; the review lists his entities'
profiles and deactivates one through the directory's own operation
(`profiles.deactivate`: its grants and refresh tokens end, its applications are told by
back-channel logout), after `require_administrator_of` its entity.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp.core.clock import PARIS, paris_day, utcnow
from idp.core.errors import NotFound, RuleViolation
from idp.directory import profiles, requests, rules, services
from idp.directory.models import Account, Entity
from idp.extensions import db
from idp.outbox import service as outbox
from idp.oversight import service, wording
from idp.oversight.forms import HistoryForm
from idp.web import profile_mails
from idp.web.access import (
    is_national_admin,
    login_required,
    request_actor,
    require_administrator_of,
    signed_in_account,
)
from idp.web.screening import ROW_ID_MAX
from idp.web.spreadsheet import csv_response

bp = Blueprint("oversight", __name__)

PAGE_SIZE = 50
EXPORT_MAX = 100_000  # rows of one CSV export: narrow the filters for more
NO_ENTITY = "Vous n'administrez aucune entité."
UNKNOWN_ENTITY = "Aucune entité n'a ce FINESS ou ce code."
NOT_YOURS = "Vous n'administrez pas cette entité."
LISTS = {"inactifs": "Profils sans connexion",
         "administrateurs": "Profils administrateurs"}


# --- Historique -----------------------------------------------------------------------


def _scope(account: Account) -> service.Scope:
    """None (everything) for a national administrator, else his entities."""
    if is_national_admin(account):
        return None
    mine = requests.administered_entities(account.profiles)
    if not mine:
        abort(403, NO_ENTITY)
    return mine


def _entity_scope(form: HistoryForm, scope: service.Scope) -> service.Scope:
    """The scope narrowed to the entity typed, which must be one of the scope's."""
    typed = (form.entite.data or "").strip() if not form.entite.errors else ""
    if not typed:
        return scope
    try:
        entity = services.get_entity(typed)
    except NotFound:
        form.entite.errors = [UNKNOWN_ENTITY]
        return scope
    if scope is not None and entity.id not in scope:
        form.entite.errors = [NOT_YOURS]
        return scope
    return [entity.id]


def _filters(account: Account) -> tuple[HistoryForm, service.Scope, service.HistoryFilter]:
    form = HistoryForm(request.args)
    form.validate()

    def kept(field: str) -> str:
        f = form[field]
        return "" if f.errors else (f.data or "").strip()

    scope = _entity_scope(form, _scope(account))
    return form, scope, service.HistoryFilter(
        since=None if form.du.errors else paris_day(form.du.data),
        until=None if form.au.errors else paris_day(form.au.data, 1),
        action=kept("action"), actor=kept("auteur"), concerned=kept("concerne"))


def _filter_args() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k != "apres"}


@bp.get("/historique")
@login_required
def history() -> str:
    """The events of one's entities (all of them for the national level), newest first,
    a page at a time."""
    account = signed_in_account()
    form, scope, wanted = _filters(account)
    before = request.args.get("apres", type=int)
    before = before if before is not None and 0 < before <= ROW_ID_MAX else None
    events, following = service.history_page(scope, wanted, before, PAGE_SIZE)
    names = service.names_of(events)
    return render_template(
        "oversight/history.html", form=form, national=scope is None,
        entities=_entity_names(scope or []), rows=[(e, wording.row(e, names)) for e in events],
        following=following, first=before is not None, args=_filter_args(),
        export_max=EXPORT_MAX)


def _entity_names(ids: Collection[int]) -> list[str]:
    return list(db.session.scalars(select(Entity.name).where(Entity.id.in_(list(ids)))
                                   .order_by(Entity.name)))


@bp.get("/historique.csv")
@login_required
def export_history() -> Response:
    """« Export CSV » of the filtered view (every page, at most EXPORT_MAX rows)."""
    _, scope, wanted = _filters(signed_in_account())

    def rows() -> Iterator[list[str]]:
        for chunk in service.history_chunks(scope, wanted, EXPORT_MAX):
            names = service.names_of(chunk)
            yield from (list(wording.row(e, names).values()) for e in chunk)

    return csv_response("historique.csv", wording.COLUMNS, rows())


# --- Revue des habilitations ----------------------------------------------------------


def _months() -> int:
    return int(current_app.config["IDP"]["security"]["review_inactive_months"])


@bp.get("/revue-des-habilitations")
@login_required
def review() -> str:
    """The profiles of one's entities with no sign-in for N months, or those holding an
    administrator role, each with « Désactiver »."""
    account = signed_in_account()
    mine = requests.administered_entities(account.profiles)
    if not mine:
        abort(403, NO_ENTITY)
    shown = request.args.get("liste", "inactifs")
    shown = shown if shown in LISTS else "inactifs"
    query = service.inactive_profiles(mine, service.months_before(utcnow(), _months())) \
        if shown == "inactifs" else service.administrator_profiles(mine)
    total = service.count(query)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    rows = db.session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return render_template(
        "oversight/review.html", lists=LISTS, shown=shown, months=_months(), rows=rows,
        total=total, page=page, pages=pages, entities=_entity_names(mine),
        account=account, paris=PARIS,
        holds_ape=rules.holds_ape, states=profiles.STATE_LABELS)


@bp.post("/revue-des-habilitations/profils/<int:profile_id>/desactiver")
@login_required
def deactivate(profile_id: int) -> Response:
    """« Désactiver »: the directory's deactivation, by an administrator of the profile's
    entity (the kernel's `csrf` checks the token of every POST)."""
    profile = services.get_profile(profile_id)
    account = require_administrator_of(profile.entity)
    shown = request.form.get("liste", "")
    shown = shown if shown in LISTS else "inactifs"
    label = profile.label
    try:
        profiles.deactivate(profile, request_actor(account))
        profile_mails.profile_deactivated(profile, account)
    except RuleViolation as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        outbox.send_after_commit()
        flash(profiles.DEACTIVATED.format(label=label), "success")
    return redirect(url_for("oversight.review", liste=shown))
