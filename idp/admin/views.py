"""The registry of client applications, for national administrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from idp.admin.forms import ClientForm
from idp.clients import service
from idp.core.audit import Actor
from idp.core.errors import RuleViolation
from idp.directory.models import Domain
from idp.extensions import db
from idp.web.access import national_admin_required, request_actor, signed_in_account

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _actor() -> Actor:
    return request_actor(signed_in_account())


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _form(**kwargs: Any) -> ClientForm:
    form = ClientForm(**kwargs)
    form.domains.choices = [SelectChoice(d.code, d.label) for d in db.session.scalars(
        select(Domain).order_by(Domain.label))]
    return form


def _settings(form: ClientForm) -> dict[str, Any]:
    return {
        "name": form.name.data.strip(),
        "domains": form.domains.data,
        "public": form.kind.data == "public",
        "first_party": form.first_party.data,
        "redirect_uris": _lines(form.redirect_uris.data),
        "post_logout_redirect_uris": _lines(form.post_logout_redirect_uris.data),
        "backchannel_logout_uri": (form.backchannel_logout_uri.data or "").strip() or None,
        "id_token_signed_response_alg": form.id_token_signed_response_alg.data,
        "required_acr": form.required_acr.data or None,
    }


@bp.get("/applications")
@national_admin_required
def clients() -> str:
    return render_template("admin/clients.html", clients=service.list_clients())


@bp.route("/applications/nouvelle", methods=["GET", "POST"])
@national_admin_required
def create_client() -> Response | str | tuple[str, int]:
    form = _form()
    if form.validate_on_submit():
        try:
            client, secret = service.create_client(actor=_actor(), **_settings(form))
        except RuleViolation as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"L'application « {client.name} » est enregistrée.", "success")
            return render_template("admin/client_secret.html", client=client, secret=secret)
    return render_template("admin/client_form.html", form=form, client=None), (
        400 if request.method == "POST" else 200)


@bp.route("/applications/<client_id>", methods=["GET", "POST"])
@national_admin_required
def edit_client(client_id: str) -> Response | str | tuple[str, int]:
    client = service.get_client(client_id)
    form = _form(obj=None if request.method == "POST" else client)
    if request.method == "GET":
        form.kind.data = "public" if client.is_public else "confidential"
        form.required_acr.data = client.required_acr or ""
        form.redirect_uris.data = "\n".join(client.redirect_uris)
        form.post_logout_redirect_uris.data = "\n".join(client.post_logout_redirect_uris)
    if form.validate_on_submit():
        try:
            _, secret = service.update_client(client, _actor(), **_settings(form))
        except RuleViolation as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash("Les modifications sont enregistrées.", "success")
            if secret:
                return render_template("admin/client_secret.html", client=client,
                                       secret=secret)
            return redirect(url_for("admin.edit_client", client_id=client_id))
    return render_template("admin/client_form.html", form=form, client=client), (
        400 if request.method == "POST" else 200)


@bp.post("/applications/<client_id>/<action>")
@national_admin_required
def client_action(client_id: str, action: str) -> Response | str:
    form = _form()
    if not form.csrf_token.validate(form):
        abort(400, "Le formulaire a expiré : rechargez la page.")
    client = service.get_client(client_id)
    try:
        if action == "secret":
            secret = service.rotate_secret(client, _actor())
            db.session.commit()
            return render_template("admin/client_secret.html", client=client, secret=secret)
        if action == "desactiver":
            service.disable_client(client, _actor())
            message = "L'application est désactivée : plus aucune connexion n'est possible."
        elif action == "activer":
            service.enable_client(client, _actor())
            message = "L'application est réactivée."
        else:
            abort(404)
    except RuleViolation as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("admin.edit_client", client_id=client_id))
