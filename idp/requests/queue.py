"""Profils › Demandes de création de profil: the administrator's queues (the requests of
his entities; separately, what the level below sends him), their CSV export, a
request's page and its decision.

Every page asks the directory who may see what (`administered_entities`,
`require_decider_of`): an administrator of X reaches nothing of Y by any URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.core.clock import PARIS, paris_day
from idp.directory import requests, rules, services
from idp.directory.enums import RequestStatus
from idp.directory.models import Entity, ProfileRequest
from idp.extensions import db
from idp.outbox import service as outbox
from idp.requests import mails
from idp.requests.forms import STATUS_LABELS, DecisionForm, QueueFilterForm
from idp.requests.views import activation_links, bp
from idp.requests.wording import entity_name, entity_phrase
from idp.web import paging
from idp.web.access import login_required, request_actor, require_decider_of, signed_in_account
from idp.web.password_links import min_length
from idp.web.spreadsheet import csv_response

PAGE_SIZE = 50
VIEWS = {"entite": "Demandes de création de profil",
         "niveau": "Demandes de création de profil Administrateur Principal"}
NO_ENTITY = "Vous n'administrez aucune entité : aucune demande ne vous est adressée."


def _mine() -> list[int]:
    entity_ids = requests.administered_entities(signed_in_account().profiles)
    if not entity_ids:
        abort(403, NO_ENTITY)
    return entity_ids


def _filters() -> tuple[QueueFilterForm, requests.QueueFilter]:
    form = QueueFilterForm(request.args)
    form.validate()  # a malformed value is shown with its message and left out
    view = request.args.get("vue", "entite")
    status = form.etat.data if not form.etat.errors else RequestStatus.PENDING.value
    wanted = requests.QueueFilter(
        view=view if view in VIEWS else "entite",
        status=RequestStatus(status) if status else None,
        since=None if form.du.errors else paris_day(form.du.data),
        until=None if form.au.errors else paris_day(form.au.data, 1),
        name="" if form.nom.errors else (form.nom.data or ""),
        entity="" if form.entite.errors else (form.entite.data or ""))
    return form, wanted


@bp.get("/profils/demandes")
@login_required
def queue() -> str:
    mine = _mine()
    form, wanted = _filters()
    found, total = requests.queue_page(mine, wanted, paging.cursor(), PAGE_SIZE)
    entities = db.session.query(Entity).filter(Entity.id.in_(mine)).order_by(Entity.name).all()
    return render_template(
        "requests/queue.html", form=form, found=found, total=total,
        view=wanted.view, views=VIEWS, args=paging.filters(),
        entities=[entity_phrase(e) for e in entities], statuses=STATUS_LABELS,
        entity_name=entity_name)


CSV_COLUMNS = ["Date de demande", "Etat de la demande", "Type de demande", "Identifiant",
               "Nom", "Prénom", "Courriel", "Téléphone", "Entité", "Finess",
               "Libellé du profil", "Applications", "Commentaire", "Commentaire de la décision"]


def _csv_row(r: ProfileRequest) -> list[str]:
    return [r.created_at.astimezone(PARIS).date().isoformat(), STATUS_LABELS[r.status],
            "Administrateur principal" if r.wants_ape else "Profil",
            r.account.identifier if r.account else "", r.family_name, r.given_name,
            r.email, r.phone or "", r.entity.name, r.entity.finess or "", r.label,
            ", ".join(r.applications), r.comment or "", r.decision_comment or ""]


@bp.get("/profils/demandes.csv")
@login_required
def export_csv() -> Response:
    """Export CSV of the queue as filtered (every page)."""
    mine = _mine()
    _, wanted = _filters()
    query = requests.queue_query(mine, wanted).order_by(
        *(column.desc() for column in requests.QUEUE_ORDER))

    def rows() -> Iterator[list[str]]:
        for r in db.session.scalars(query.execution_options(yield_per=500)):
            yield _csv_row(r)

    return csv_response("demandes-de-creation-de-profil.csv", CSV_COLUMNS, rows())


def _load(request_id: int) -> ProfileRequest:
    found = db.session.get(ProfileRequest, request_id)
    if found is None:
        abort(404)
    return found


def _detail(found: ProfileRequest, form: DecisionForm, status: int = 200,
            error: str | None = None) -> tuple[str, int]:
    apes = [p for p in services.administrators_of(found.entity) if rules.holds_ape(p)]
    return render_template(
        "requests/detail.html", r=found, form=form, statuses=STATUS_LABELS, error=error,
        entity=entity_phrase(found.entity), current_apes=apes,
        same_name=len(services.accounts_named(found.given_name, found.family_name))
        if found.new_account and found.status == RequestStatus.PENDING else 0), status


@bp.get("/profils/demandes/<int:request_id>")
@login_required
def detail(request_id: int) -> tuple[str, int]:
    found = _load(request_id)
    require_decider_of(found)
    return _detail(found, DecisionForm())


@bp.post("/profils/demandes/<int:request_id>")
@login_required
def decide(request_id: int) -> Any:
    """« Refuser la demande » or « Créer le profil », with the decision's comment."""
    found = _load(request_id)
    account = require_decider_of(found)
    form = DecisionForm()
    action = request.form.get("decision")
    if not form.validate_on_submit() or action not in {"accepter", "refuser"}:
        return _detail(found, form, 400)
    comment = (form.comment.data or "").strip() or None
    actor = request_actor(account)
    security = current_app.config["IDP"]["security"]
    try:
        if action == "accepter":
            decision = requests.accept(found, comment, actor, min_length())
        else:
            decision = requests.refuse(found, comment, actor)
    except requests.AlreadyDecided as exc:
        db.session.rollback()
        db.session.refresh(found)
        return _detail(found, form, 409, error=str(exc))
    code = None
    if decision.accepted and found.new_account and decision.account is not None:
        code = activation_links().issue({"account_id": decision.account.id},
                                        security["activation_link_ttl"])
    mails.request_decided(decision, code, security["activation_link_ttl"] // 86400)
    db.session.commit()
    outbox.send_after_commit()
    flash("Le profil a été créé ; la personne en est informée par courriel."
          if decision.accepted else
          "La demande a été refusée ; la personne en est informée par courriel.", "success")
    return redirect(url_for("requests.queue", vue=_view_of(found, account)))


def _view_of(found: ProfileRequest, account: Any) -> str:
    own = found.entity_id in requests.administered_entities(account.profiles)
    return "entite" if own and not found.wants_ape else "niveau"
