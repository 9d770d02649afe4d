"""Profils › Recherche de profils, Gestion des profils & habilitations, and a profile's
page « Modifier les habilitations du profil » with its state and the APE role.

Every page asks the kernel who may see it (`require_administrator_of` the profile's
entity, `requests.administered_entities` for the lists): an administrator of X reaches
nothing of Y by any address. The operations and their rules are the directory's
(`idp.directory.profiles`); a refused change shows its French message, nothing is
half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from idp.core.audit import Actor
from idp.core.errors import RuleViolation
from idp.directory import profiles, requests, rules, services
from idp.directory.enums import ProfileState
from idp.directory.models import Account, Domain, Entity, Profile, Role
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import service as outbox
from idp.profiles.forms import DomainForm, HabilitationsForm, SearchForm
from idp.web import paging
from idp.web.access import login_required, request_actor, require_administrator_of
from idp.web.access import signed_in_account as signed_in
from idp.web.redirects import public_url, safe_next

bp = Blueprint("profiles", __name__)

PAGE_SIZE = 50
TITLES = {"profiles.search": "Recherche de profils",
          "profiles.manage": "Gestion des profils & habilitations"}
NO_ENTITY = "Vous n'administrez aucune entité : aucun profil ne vous est confié."
NOT_YOUR_APE_ROLE = ("Seul l'administrateur principal de l'entité peut transmettre son rôle "
                     "à un autre profil.")
View = Response | str | tuple[str, int]


# --- Recherche de profils, Gestion des profils & habilitations -------------------------


def _administered() -> list[Entity]:
    ids = requests.administered_entities(signed_in().profiles)
    if not ids:
        abort(403, NO_ENTITY)
    return list(db.session.query(Entity).filter(Entity.id.in_(ids)).order_by(Entity.name))


def _criteria(form: SearchForm, entities: list[Entity]) -> profiles.ProfileFilter:
    """The filter the form asks for; a value that is not among the choices is shown
    with its message and left out."""
    form.entite.choices = [SelectChoice("", "Toutes"),
                           *[SelectChoice(str(e.id), _entity_label(e)) for e in entities]]
    form.role.choices = [SelectChoice("", "Tous"), *[
        SelectChoice(str(r.id), f"{d.label} – {r.label}")
        for d in profiles.domains() for r in d.roles]]
    form.validate()

    def chosen(field: Any) -> str:
        return "" if field.errors else (field.data or "")

    return profiles.ProfileFilter(
        name=chosen(form.nom), label=chosen(form.libelle),
        state=ProfileState(chosen(form.etat)) if chosen(form.etat) else None,
        role_id=int(chosen(form.role)) if chosen(form.role) else None,
        entity_id=int(chosen(form.entite)) if chosen(form.entite) else None)


def _entity_label(entity: Entity) -> str:
    return f"{entity.name} ({entity.finess})" if entity.finess else entity.name


@bp.get("/profils/recherche", endpoint="search")
@bp.get("/profils/gestion", endpoint="manage")
@login_required
def listing() -> str:
    """The profiles of the entities one administers, filtered and paged; each with its
    link « Modifier les habilitations du profil »."""
    entities = _administered()
    form = SearchForm(request.args)
    wanted = _criteria(form, entities)
    found, total = profiles.search_page([e.id for e in entities], wanted, paging.cursor(),
                                        PAGE_SIZE)
    return render_template(
        "profiles/listing.html", title=TITLES[request.endpoint or "profiles.search"],
        form=form, found=found, total=total, args=paging.filters(), entities=entities,
        states=profiles.STATE_LABELS,
        entity_label=_entity_label)


# --- Modifier les habilitations du profil --------------------------------------------


def _profile(profile_id: int) -> tuple[Profile, Account]:
    """The profile, and the signed-in administrator of its entity (or a 403 page)."""
    profile = services.get_profile(profile_id)
    return profile, require_administrator_of(profile.entity)


def _with_choices(form: HabilitationsForm, profile: Profile, domain: Domain) -> None:
    form.ajouter.choices = [SelectChoice(r.id, r.label)
                            for r in profiles.assignable_roles(profile, domain)]
    form.attribues.choices = [SelectChoice(r.id, r.label)
                              for r in profiles.granted_roles(profile, domain)
                              if not rules.is_ape_role(r)]


def _page(profile: Profile, account: Account, domain: Domain | None,
          form: HabilitationsForm, status: int = 200) -> tuple[str, int]:
    chooser = DomainForm(formdata=None, domaine=domain.code if domain else None,
                         retour=form.retour.data)
    chooser.domaine.choices = [SelectChoice("", "Sélectionner un domaine"),
                               *[SelectChoice(d.code, d.label) for d in profiles.domains()]]
    if domain is not None:
        _with_choices(form, profile, domain)
    return render_template(
        "profiles/habilitations.html", profile=profile, person=profile.account,
        states=profiles.STATE_LABELS, chooser=chooser, domain=domain, form=form,
        entity_label=_entity_label,
        ape_held=[r for r in profiles.granted_roles(profile, domain) if rules.is_ape_role(r)]
        if domain else [],
        exclusive=rules.exclusive_conflicts(domain.roles) if domain else [],
        conflicts=_conflicts(profile), retour=safe_next(form.retour.data),
        may_hand_over=rules.may_hand_over_ape(account.profiles, profile.entity_id)
        and rules.is_usable(profile) and not rules.holds_ape(profile),
        self_view=profile.account_id == account.id), status


def _conflicts(profile: Profile) -> list[dict[str, Any]]:
    """The exclusive roles the profile holds together, each group with the roles it
    keeps in its domain when one of them is kept (the one-click fix)."""
    found = []
    for group in rules.exclusive_conflicts(rules.profile_roles(profile)):
        domain_roles = [r for r in rules.profile_roles(profile)
                        if r.domain_code == group[0].domain_code]
        found.append({"domain": group[0].domain, "roles": group, "keep": {
            role.id: [r.id for r in domain_roles if r not in group or r is role]
            for role in group}})
    return found


@bp.get("/profils/<int:profile_id>/habilitations")
@login_required
def habilitations(profile_id: int) -> View:
    profile, account = _profile(profile_id)
    code = request.args.get("domaine", "")[:32]
    domain = db.session.get(Domain, code) if code else None
    form = HabilitationsForm(formdata=None, domaine=domain.code if domain else "",
                             retour=safe_next(request.args.get("retour")) or "")
    if domain is not None:
        form.attribues.data = [r.id for r in profiles.granted_roles(profile, domain)]
    return _page(profile, account, domain, form)


@bp.post("/profils/<int:profile_id>/habilitations")
@login_required
def save_habilitations(profile_id: int) -> View:
    """« Enregistrer »: the ticked roles are granted, the unticked ones revoked."""
    profile, account = _profile(profile_id)
    form = HabilitationsForm()
    domain = db.session.get(Domain, (form.domaine.data or "")[:32])
    if domain is None:
        abort(400, "Choisissez d'abord un domaine.")
    _with_choices(form, profile, domain)
    if not form.validate_on_submit():
        return _page(profile, account, domain, form, 400)
    editable = [r for r in profiles.granted_roles(profile, domain) if not rules.is_ape_role(r)]
    add = [db.session.get(Role, role_id) for role_id in form.ajouter.data or []]
    remove = [r for r in editable if r.id not in set(form.attribues.data or [])]
    try:
        profiles.update_habilitations(profile, domain, [r for r in add if r], remove,
                                      request_actor(account))
    except RuleViolation as exc:
        db.session.rollback()
        form.ajouter.errors = [*form.ajouter.errors, str(exc)]
        return _page(profile, account, domain, form, 400)
    db.session.commit()
    flash(f"Les habilitations du profil « {profile.label} » sont enregistrées.", "success")
    return redirect(url_for("profiles.habilitations", profile_id=profile.id,
                            domaine=domain.code, retour=safe_next(form.retour.data)))


# --- the profile's state and the APE role ---------------------------------------------


def _act(profile_id: int, operation: Callable[[Profile, Actor], Any], done: str,
         allowed: Callable[[Account, Profile], bool] | None = None) -> Response:
    """Apply one of the page's buttons (their CSRF token is checked for every POST by
    the kernel's `csrf`), then come back to the profile's page."""
    profile, account = _profile(profile_id)
    if allowed is not None and not allowed(account, profile):
        abort(403, NOT_YOUR_APE_ROLE)
    try:
        operation(profile, request_actor(account))
    except RuleViolation as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        label = profile.label
        db.session.commit()
        outbox.send_after_commit()
        flash(done.format(label=label), "success")
    return redirect(url_for("profiles.habilitations", profile_id=profile_id))


@bp.post("/profils/<int:profile_id>/desactiver")
@login_required
def deactivate(profile_id: int) -> Response:
    return _act(profile_id, profiles.deactivate,
                "Le profil « {label} » est désactivé : ses connexions aux applications "
                "sont terminées.")


@bp.post("/profils/<int:profile_id>/reactiver")
@login_required
def reactivate(profile_id: int) -> Response:
    return _act(profile_id, profiles.reactivate, "Le profil « {label} » est réactivé.")


def _hand_over_and_tell(profile: Profile, actor: Actor) -> None:
    """The role handed over, and the new APE told by mail (in the same transaction)."""
    profiles.hand_over_ape(profile, actor)
    mail.queue_template(profile.effective_email, "ape_handed_over",
                        name=profile.account.full_name, profile=profile,
                        predecessor=signed_in().full_name, entity=_entity_label(profile.entity),
                        profiles_url=public_url("profiles.manage"))


@bp.post("/profils/<int:profile_id>/administrateur-principal")
@login_required
def hand_over_ape(profile_id: int) -> Response:
    """The sitting APE hands his role over to this profile and stays an Administrateur."""
    return _act(profile_id, _hand_over_and_tell,
                "Le profil « {label} » est désormais celui de l'administrateur principal "
                "de l'entité ; vous restez administrateur.",
                lambda account, profile: rules.may_hand_over_ape(account.profiles,
                                                                 profile.entity_id))
