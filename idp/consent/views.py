"""The pages of the login that follow the password: profile choice and consent."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from idp.consent import service
from idp.extensions import db
from idp.oidc import authorize
from idp.web.access import request_actor

bp = Blueprint("consent", __name__)


class DecisionForm(FlaskForm):
    """Only the CSRF token: the decision is the button pressed."""


def _flow(uid: str) -> authorize.Flow:
    try:
        flow = authorize.load(uid)
    except authorize.AuthorizationFailed:
        flow = None
    if flow is None:
        abort(400, "Cette demande de connexion a expiré ou a déjà été traitée. "
                   "Retournez à l'application pour vous connecter à nouveau.")
    return flow


@bp.route("/authorize/<uid>/profil", methods=["GET", "POST"])
def choose_profile(uid: str) -> Response | str | tuple[str, int]:
    flow = _flow(uid)
    if authorize.require_login(flow) is not None:
        return redirect(url_for("oidc.resume", uid=uid))
    authorize.classify_profiles(flow)
    if not flow.usable:
        return redirect(url_for("oidc.resume", uid=uid))  # it shows why
    form = DecisionForm()
    error = None
    if form.validate_on_submit():
        chosen = request.form.get("profile", type=int)
        if chosen in {p.id for p in flow.usable}:
            flow.state["profile_id"] = chosen
            flow.save()
            return redirect(url_for("oidc.resume", uid=uid))
        error = "Veuillez choisir l'un des profils proposés."
    selected = flow.state.get("profile_id") or service.last_profile_choice(
        flow.account.id, flow.client.client_id)  # type: ignore[union-attr]
    return render_template("consent/choose_profile.html", flow=flow, form=form, error=error,
                           selected=selected), 400 if error else 200


@bp.route("/authorize/<uid>/consentement", methods=["GET", "POST"])
def consent(uid: str) -> Response | str:
    flow = _flow(uid)
    if authorize.require_login(flow) is not None or flow.account is None:
        return redirect(url_for("oidc.resume", uid=uid))
    form = DecisionForm()
    scopes = flow.consent_scopes
    if form.validate_on_submit():
        if request.form.get("decision") != "accept":
            return authorize.abandon(uid, "The end-user refused to share the information.")
        service.give(flow.account.id, flow.client.client_id, scopes,  # type: ignore[union-attr]
                     request_actor(flow.account))
        db.session.commit()
        flow.state["consented"] = True
        flow.save()
        return redirect(url_for("oidc.resume", uid=uid))
    return render_template("consent/consent.html", flow=flow, form=form,
                           scopes=service.describe_scopes(scopes))


@bp.post("/authorize/<uid>/abandon")
def give_up(uid: str) -> Response | tuple[str, int]:
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400, "Le formulaire a expiré : rechargez la page.")
    return authorize.abandon(uid, "The end-user has no valid right for this application.")
