"""The pages of the login that follow the password: profile choice, consent, and the
pages that explain why the login cannot go on.

Each answers a prompt of the authorization pipeline through the interaction
(`idp.web.interactions`): it reads the prompt, records the person's answer and hands
the request back. It decides nothing the pipeline must trust: the pipeline checks the
answer again.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from idp.consent import service
from idp.directory import rules, services
from idp.directory.models import Entity, Profile
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
from idp.web.navigation import ACTIVE_PROFILE
from idp.web.session import renew_session_id

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
            # The header's profile menu follows the choice: the two never disagree.
            session[ACTIVE_PROFILE] = chosen
            renew_session_id()
            return interactions.answer(interaction, SELECT_PROFILE, {"profile_id": chosen})
        error = CHOOSE_ONE
    previous = interaction.result.get(SELECT_PROFILE) or {}
    return render_template(
        "consent/choose_profile.html", form=form, error=error,
        client_name=prompt.details["client_name"], domains=prompt.details["domains"],
        profiles=[services.get_profile(pid) for pid in prompt.details["profile_ids"]],
        selected=previous.get("profile_id") or prompt.details["last_choice"],
        profile_menu=False,  # the choice is made on the page, not in the header
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


def _own_habilitations(profile: Profile, domain: str, uid: str) -> str:
    """The person's own page « Modifier les habilitations du profil » for `profile`,
    on `domain`, with the way back to this login once the role is given (case 2)."""
    return url_for("profiles.habilitations", profile_id=profile.id, domaine=domain,
                   retour=interactions.resume_url(uid))


@bp.get("/authorize/<uid>/aucun-droit")
def no_valid_right(uid: str) -> Response | tuple[str, int]:
    """Why the login cannot go on, and the ways on: the person's own habilitations page
    where he administers an entity himself (training case 2), « + Demander un profil »
    on the entity the application's rights live on, the administrators to ask."""
    interaction = _interaction(uid)
    prompt = interactions.asked(interaction, NO_VALID_RIGHT)
    if prompt is None:
        return redirect(interactions.resume_url(uid))
    account = signed_in_account()
    domains = prompt.details["domains"]
    entities = [db.session.get(Entity, eid) for eid in prompt.details["entity_ids"]]
    administered = [(p, _own_habilitations(p, domains[0], uid)) for p in account.profiles
                    if rules.may_administer([p], p.entity_id)]
    holders = services.entities_holding(domains, rules.DEDICATED_ENTITIES_MAX + 1)
    return render_template(
        "consent/no_valid_right.html", uid=uid, client_name=prompt.details["client_name"],
        domains=service.domain_labels(domains), domain_codes=domains,
        administered=administered, has_profiles=bool(entities),
        request_on=rules.entities_to_request((p.entity_id for p in account.profiles),
                                             holders),
        contacts=[c for c in (services.contacts_for(e, account) for e in entities if e)
                  if c.administrators or not c.asker_administers]  # else: "administered"
    ), 403


@bp.get("/authorize/<uid>/roles-incompatibles")
def exclusive_conflict(uid: str) -> Response | tuple[str, int]:
    interaction = _interaction(uid)
    prompt = interactions.asked(interaction, EXCLUSIVE_CONFLICT)
    if prompt is None:
        return redirect(interactions.resume_url(uid))
    account = signed_in_account()
    domains = prompt.details["domains"]
    profiles = [services.get_profile(pid) for pid in prompt.details["profile_ids"]]
    conflicts = []
    for profile in profiles:
        groups = rules.conflicts_in_domains(profile, domains)
        contact = services.contacts_for(profile.entity, account)
        fix = _own_habilitations(profile, groups[0][0].domain_code, uid) \
            if rules.may_administer(account.profiles, profile.entity_id) else None
        conflicts.append((profile, groups, contact, fix))
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
