"""Profils › Recherche de profils, Gestion des profils & habilitations, and a profile's
page « Modifier les habilitations du profil » with its state, the APE role and the
person's second factor (reset when the phone and the recovery codes are lost).

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
from idp.mfa import service as second_factor
from idp.outbox import service as outbox
from idp.profiles.forms import DomainForm, HabilitationsForm, SearchForm
from idp.web import paging
from idp.web import profile_mails as mails
from idp.web.access import login_required, request_actor, require_administrator_of
from idp.web.access import signed_in_account as signed_in
from idp.web.redirects import safe_next

bp = Blueprint("profiles", __name__)

PAGE_SIZE = 50
TITLES = {"profiles.search": "Recherche de profils",
          "profiles.manage": "Gestion des profils & habilitations"}
NO_ENTITY = "Vous n'administrez aucune entité : aucun profil ne vous est confié."
NOT_YOUR_APE_ROLE = ("Seul l'administrateur principal de l'entité peut transmettre son rôle "
                     "à un autre profil.")
NOT_YOURS_TO_RESET = ("Votre propre double authentification se gère depuis Mon compte, "
                      "votre mot de passe ou un code à l'appui.")
NO_SECOND_FACTOR = "Cette personne n'a pas de double authentification : rien à réinitialiser."
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
    return entity.display_name


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
        may_reset_second_factor=_may_reset_second_factor(account, profile),
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
    add = [r for r in (db.session.get(Role, role_id) for role_id in form.ajouter.data or [])
           if r]
    remove = [r for r in editable if r.id not in set(form.attribues.data or [])]
    try:
        profiles.update_habilitations(profile, domain, add, remove, request_actor(account))
    except RuleViolation as exc:
        db.session.rollback()
        form.ajouter.errors = [*form.ajouter.errors, str(exc)]
        return _page(profile, account, domain, form, 400)
    mails.roles_granted(profile, domain, add, account)
    db.session.commit()
    outbox.send_after_commit()
    flash(f"Les habilitations du profil « {profile.label} » sont enregistrées.", "success")
    return redirect(url_for("profiles.habilitations", profile_id=profile.id,
                            domaine=domain.code, retour=safe_next(form.retour.data)))


# --- the profile's state and the APE role ---------------------------------------------


def _act(profile_id: int, operation: Callable[[Profile, Actor], Any], done: str,
         allowed: Callable[[Account, Profile], bool] | None = None,
         refused: str = NOT_YOUR_APE_ROLE) -> Response:
    """Apply one of the page's buttons (their CSRF token is checked for every POST by
    the kernel's `csrf`), then come back to the profile's page."""
    profile, account = _profile(profile_id)
    if allowed is not None and not allowed(account, profile):
        abort(403, refused)
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
    return _act(profile_id, _and_tell(profiles.deactivate, mails.profile_deactivated),
                profiles.DEACTIVATED)


@bp.post("/profils/<int:profile_id>/reactiver")
@login_required
def reactivate(profile_id: int) -> Response:
    return _act(profile_id, _and_tell(profiles.reactivate, mails.profile_reactivated),
                "Le profil « {label} » est réactivé.")


def _and_tell(operation: Callable[[Profile, Actor], Any],
              tell: Callable[[Profile, Account], None]) -> Callable[[Profile, Actor], None]:
    """The operation, and its holder told by mail in the same transaction."""
    def both(profile: Profile, actor: Actor) -> None:
        operation(profile, actor)
        tell(profile, signed_in())
    return both


@bp.post("/profils/<int:profile_id>/administrateur-principal")
@login_required
def hand_over_ape(profile_id: int) -> Response:
    """The sitting APE hands his role over to this profile and stays an Administrateur."""
    return _act(profile_id, _and_tell(profiles.hand_over_ape, mails.ape_handed_over),
                "Le profil « {label} » est désormais celui de l'administrateur principal "
                "de l'entité ; vous restez administrateur.",
                lambda account, profile: rules.may_hand_over_ape(account.profiles,
                                                                 profile.entity_id))


# --- the person's second factor -------------------------------------------------------


def _someone_else_s(account: Account, profile: Profile) -> bool:
    """Not the administrator's own profile: his own second factor is removed from Mon
    compte, where the password or a code is asked."""
    return profile.account_id != account.id


def _may_reset_second_factor(account: Account, profile: Profile) -> bool:
    return (_someone_else_s(account, profile)
            and second_factor.has_second_factor(profile.account))


def _reset_second_factor(profile: Profile, actor: Actor) -> None:
    """The command line's reset (`idp accounts reset-second-factor`): audited, the
    person told by mail, his remembered devices forgotten with the enrolment."""
    if not second_factor.remove(profile.account, actor, by_administrator=True):
        raise RuleViolation(NO_SECOND_FACTOR)


@bp.get("/profils/<int:profile_id>/double-authentification")
@login_required
def confirm_second_factor_reset(profile_id: int) -> View:
    """« Réinitialiser la double authentification »: what it does, asked to confirm."""
    profile, account = _profile(profile_id)
    if not _someone_else_s(account, profile):
        abort(403, NOT_YOURS_TO_RESET)
    if not second_factor.has_second_factor(profile.account):
        flash(NO_SECOND_FACTOR, "error")
        return redirect(url_for("profiles.habilitations", profile_id=profile_id))
    return render_template("profiles/reset_second_factor.html", profile=profile,
                           person=profile.account,
                           factor=second_factor.enrolled(profile.account),
                           passkeys=second_factor.passkeys_of(profile.account),
                           entity_label=_entity_label)


@bp.post("/profils/<int:profile_id>/double-authentification")
@login_required
def reset_second_factor(profile_id: int) -> Response:
    return _act(profile_id, _reset_second_factor,
                "La double authentification de la personne du profil « {label} » est "
                "réinitialisée : elle en est informée par courriel.",
                _someone_else_s, NOT_YOURS_TO_RESET)
