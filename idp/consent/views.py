"""The pages of the login that follow the password: profile choice, consent, and the
pages that explain why the login cannot go on.

Each answers a prompt of the authorization pipeline through the interaction
(`idp.web.interactions`): it reads the prompt, records the person's answer and hands
the request back. It decides nothing the pipeline must trust: the pipeline checks the
answer again.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request
from werkzeug.wrappers import Response

from idp.consent import service
from idp.directory import rules, services
from idp.directory.models import Entity
from idp.extensions import db
from idp.web import interactions
from idp.web.access import request_actor, signed_in_account
from idp.web.forms import Form
from idp.web.interactions import (
    ABANDON,
    CONSENT,
    EXCLUSIVE_CONFLICT,
    NO_VALID_RIGHT,
    SELECT_PROFILE,
    Interaction,
)

bp = Blueprint("consent", __name__)

CHOOSE_ONE = "Veuillez choisir l'un des profils proposés."
# What the client reads in error_description (OAuth errors are in English).
REFUSED = "The end-user refused to share the information."
NO_RIGHT = "The end-user has no valid right for this application."


class DecisionForm(Form):
    """Only the CSRF token: the decision is the button pressed."""


def _interaction(uid: str) -> Interaction:
    interaction = interactions.load(uid)
    if interaction is None:
        abort(400, interactions.EXPIRED)
    return interaction


@bp.route("/authorize/<uid>/profil", methods=["GET", "POST"])
def choose_profile(uid: str) -> Response | tuple[str, int]:
    interaction = _interaction(uid)
    prompt = interactions.asked(interaction, SELECT_PROFILE)
    if prompt is None:
        return redirect(interactions.resume_url(uid))
    form = DecisionForm()
    error = None
    if form.validate_on_submit():
        chosen = request.form.get("profile", type=int)
        if chosen in prompt.details["profile_ids"]:
            return interactions.answer(interaction, SELECT_PROFILE, {"profile_id": chosen})
        error = CHOOSE_ONE
    previous = interaction.result.get(SELECT_PROFILE) or {}
    return render_template(
        "consent/choose_profile.html", form=form, error=error,
        client_name=prompt.details["client_name"], domains=prompt.details["domains"],
        profiles=[services.get_profile(pid) for pid in prompt.details["profile_ids"]],
        selected=previous.get("profile_id") or prompt.details["last_choice"],
    ), 400 if error else 200


@bp.route("/authorize/<uid>/consentement", methods=["GET", "POST"])
def consent(uid: str) -> Response | str:
    interaction = _interaction(uid)
    prompt = interactions.asked(interaction, CONSENT)
    if prompt is None:
        return redirect(interactions.resume_url(uid))
    form = DecisionForm()
    scopes = prompt.details["scopes"]
    if form.validate_on_submit():
        if request.form.get("decision") != "accept":
            return interactions.answer(interaction, ABANDON,
                                       {"error": "access_denied", "description": REFUSED})
        account = signed_in_account()
        service.give(account.id, prompt.details["client_id"], scopes, request_actor(account))
        db.session.commit()
        return interactions.answer(interaction, CONSENT, {"scopes": scopes})
    return render_template("consent/consent.html", form=form,
                           client_name=prompt.details["client_name"],
                           scopes=service.describe_scopes(scopes))


@bp.get("/authorize/<uid>/aucun-droit")
def no_valid_right(uid: str) -> Response | tuple[str, int]:
    interaction = _interaction(uid)
    prompt = interactions.asked(interaction, NO_VALID_RIGHT)
    if prompt is None:
        return redirect(interactions.resume_url(uid))
    entities = [db.session.get(Entity, eid) for eid in prompt.details["entity_ids"]]
    return render_template(
        "consent/no_valid_right.html", uid=uid, client_name=prompt.details["client_name"],
        domains=service.domain_labels(prompt.details["domains"]),
        contacts=[services.contacts_for(entity) for entity in entities if entity]), 403


@bp.get("/authorize/<uid>/roles-incompatibles")
def exclusive_conflict(uid: str) -> Response | tuple[str, int]:
    interaction = _interaction(uid)
    prompt = interactions.asked(interaction, EXCLUSIVE_CONFLICT)
    if prompt is None:
        return redirect(interactions.resume_url(uid))
    domains = prompt.details["domains"]
    profiles = [services.get_profile(pid) for pid in prompt.details["profile_ids"]]
    conflicts = [(p, rules.conflicts_in_domains(p, domains), services.contacts_for(p.entity))
                 for p in profiles]
    return render_template("consent/exclusive_conflict.html", uid=uid,
                           client_name=prompt.details["client_name"], conflicts=conflicts), 403


@bp.post("/authorize/<uid>/abandon")
def give_up(uid: str) -> Response:
    """"Retourner à l'application": the client gets access_denied."""
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400, "Le formulaire a expiré : rechargez la page.")
    interaction = interactions.load(uid)
    if interaction is None:
        return redirect(interactions.resume_url(uid))  # the pipeline's "expired" page
    return interactions.answer(interaction, ABANDON,
                               {"error": "access_denied", "description": NO_RIGHT})
