"""Administration nationale et régionale: Entités (search, create, edit, deactivate, the
FINESS import), Nomination des APE, Catalogue.

Who may see what is the kernel's and the directory's: `national_admin_required` for the
national pages, `access.oversight` (the region of an ARS, the département of a CD,
everything for the national level) for the list of entities, `rules.may_appoint_ape`
for each appointment. The operations are in `idp.directory.entities` and
`idp.directory.catalogue`; a refused change shows its French message next to its field,
nothing is half-written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from idp.core.errors import RuleViolation
from idp.directory import catalogue, importer, rules, services
from idp.directory import entities as directory
from idp.directory.enums import EntityType
from idp.directory.models import Account, Domain, Entity, Profile
from idp.extensions import db
from idp.mail import service as mail
from idp.national import imports
from idp.national.forms import (
    TYPE_LABELS,
    AppointForm,
    DomainForm,
    EntityForm,
    EntitySearchForm,
    ImportForm,
    RoleForm,
)
from idp.outbox import service as outbox
from idp.web import paging
from idp.web.access import (
    login_required,
    national_admin_required,
    oversight,
    request_actor,
    signed_in_account,
)
from idp.web.redirects import public_url

bp = Blueprint("national", __name__, url_prefix="/admin")

PAGE_SIZE = 50
NOT_OVERSEER = ("Cette page est réservée aux administrateurs de niveau national et aux "
                "administrateurs des ARS et des conseils départementaux.")
NOT_APPOINTER = ("Vous ne nommez l'administrateur principal d'aucune entité : cette page "
                 "est réservée au niveau supérieur (organisme gestionnaire, ARS, conseil "
                 "départemental, niveau national).")
NOT_YOUR_APPOINTMENT = ("Vous ne pouvez pas nommer l'administrateur principal de cette "
                        "entité : il est nommé par le niveau supérieur dont elle dépend.")
NO_FILE = "Choisissez le fichier CSV à importer."
View = Response | str | tuple[str, int]


def _entity(entity_id: int) -> Entity:
    entity = db.session.get(Entity, entity_id)
    if entity is None:
        abort(404)
    return entity


def _chosen(field: Any) -> str:
    """A filter's value, left out when it is not among the choices (its message shown)."""
    return "" if field.errors else (field.data or "")


# --- Entités --------------------------------------------------------------------------


@bp.get("/entites")
@login_required
def entities() -> str:
    """The entities one oversees, searched and paged: all of them for the national
    level, those of his region or département for an ARS or a CD."""
    account = signed_in_account()
    scope = oversight(account)
    if not scope:
        abort(403, NOT_OVERSEER)
    form = EntitySearchForm(request.args)
    form.validate()
    wanted = directory.EntityFilter(
        text=_chosen(form.texte), region=_chosen(form.region),
        departement=_chosen(form.departement),
        type=EntityType(_chosen(form.type)) if _chosen(form.type) else None)
    found, total = directory.page_of(directory.search_query(scope, wanted), paging.cursor(),
                                     PAGE_SIZE)
    rows = found.rows
    ids = [e.id for e in rows]
    appointers = directory.appointing_admin_entities(account.profiles)
    appointed = set(db.session.scalars(
        directory.appointed_by(appointers).where(Entity.id.in_(ids))
        .with_only_columns(Entity.id))) if ids else set()
    return render_template(
        "admin/entities.html", form=form, rows=rows, total=total, found=found,
        args=paging.filters(), apes=directory.apes_of(ids), appointed=appointed, scope=scope,
        types=TYPE_LABELS)


def _entity_values(form: EntityForm) -> dict[str, str]:
    return {name: form[name].data or "" for name in importer.COLUMNS}


def _save(form: EntityForm, entity: Entity | None) -> Entity | None:
    """The entity saved and committed, or None with the messages next to the fields."""
    try:
        saved = directory.save_entity(_entity_values(form), request_actor(signed_in_account()),
                                      entity)
    except directory.EntityRejected as exc:
        db.session.rollback()
        for column, messages in exc.problems.items():
            target = form[column].errors if column in importer.COLUMNS and column in form \
                else form.form_errors
            target.extend(messages)
        return None
    db.session.commit()
    return saved


@bp.route("/entites/nouvelle", methods=["GET", "POST"])
@national_admin_required
def create_entity() -> View:
    form = EntityForm()
    if form.validate_on_submit():
        saved = _save(form, None)
        if saved is not None:
            flash(f"L'entité « {saved.name} » est créée.", "success")
            return redirect(url_for("national.edit_entity", entity_id=saved.id))
    return render_template("admin/entity_form.html", form=form, entity=None), (
        400 if request.method == "POST" else 200)


@bp.route("/entites/<int:entity_id>", methods=["GET", "POST"])
@national_admin_required
def edit_entity(entity_id: int) -> View:
    entity = _entity(entity_id)
    form = EntityForm(data={
        "finess": entity.finess, "code": entity.code, "type": entity.type.value,
        "name": entity.name, "city": entity.city, "postal_code": entity.postal_code,
        "departement": entity.departement or "", "region": entity.region or "",
        "finess_ej": entity.parent.code if entity.parent else "",
        "managing_og": entity.managing_og.code if entity.managing_og else ""})
    if form.validate_on_submit() and _save(form, entity) is not None:
        flash("Les modifications sont enregistrées.", "success")
        return redirect(url_for("national.edit_entity", entity_id=entity.id))
    admins = services.administrators_of(entity)
    return render_template(
        "admin/entity_form.html", form=form, entity=entity, administrators=admins,
        appointed_by=rules.appointing_entities(entity, services.authority_lookup()),
        ape_of=rules.holds_ape), 400 if request.method == "POST" else 200


@bp.post("/entites/<int:entity_id>/<any(desactiver, reactiver):action>")
@national_admin_required
def entity_state(entity_id: int, action: str) -> Response:
    """Deactivate an entity (no longer offered to requests), or reactivate it."""
    entity = _entity(entity_id)
    try:
        directory.set_active(entity, action == "reactiver", request_actor(signed_in_account()))
    except RuleViolation as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"L'entité « {entity.name} » est "
              f"{'réactivée' if entity.active else 'désactivée'}.", "success")
    return redirect(url_for("national.edit_entity", entity_id=entity_id))


# --- Importer un extrait FINESS --------------------------------------------------------


@bp.route("/entites/import", methods=["GET", "POST"])
@national_admin_required
def import_file() -> View:
    """The file is checked whole here; a valid one is imported in the background."""
    form = ImportForm()
    problems: list[str] = []
    count = 0
    if form.validate_on_submit():
        upload = form.fichier.data
        data = upload.read() if upload is not None and hasattr(upload, "read") else b""
        if not data:
            form.fichier.errors = [*form.fichier.errors, NO_FILE]
        else:
            try:
                importer.check_file(data)
            except importer.ImportRejected as exc:
                db.session.rollback()
                problems, count = imports.problems_shown(exc), len(exc.problems)
            else:
                name = (upload.filename or "extrait.csv")[:255]
                job = imports.start(data, name, request_actor(signed_in_account()))
                db.session.commit()
                outbox.send_after_commit()
                return redirect(url_for("national.import_progress", job=job))
    return render_template("admin/entity_import.html", form=form, problems=problems,
                           count=count), 400 if request.method == "POST" else 200


@bp.get("/entites/import/<job>")
@national_admin_required
def import_progress(job: str) -> str:
    state = imports.status(job)
    if state is None:
        abort(404)
    return render_template("admin/entity_import_progress.html", job=state)


# --- Nomination des APE ---------------------------------------------------------------


@bp.get("/nominations")
@login_required
def appointments() -> str:
    """The entities whose APE one appoints (principle 4), with their APE."""
    account = signed_in_account()
    appointers = directory.appointing_admin_entities(account.profiles)
    if not appointers:
        abort(403, NOT_APPOINTER)
    form = EntitySearchForm(request.args)
    form.validate()
    query = directory.appointed_by(appointers)
    text = _chosen(form.texte)
    if text:
        query = directory.search_query(rules.Oversight(national=True),
                                       directory.EntityFilter(text=text)).where(
            Entity.id.in_(query.with_only_columns(Entity.id)))
    found, total = directory.page_of(query, paging.cursor(), PAGE_SIZE)
    return render_template(
        "admin/appointments.html", form=form, rows=found.rows, total=total, found=found,
        appointers=appointers, args=paging.filters(),
        apes=directory.apes_of([e.id for e in found.rows]), types=TYPE_LABELS)


def _appointer_of(entity: Entity) -> Account:
    account = signed_in_account()
    if not rules.may_appoint_ape(account.profiles, entity, services.authority_lookup()):
        abort(403, NOT_YOUR_APPOINTMENT)
    return account


@bp.route("/entites/<int:entity_id>/ape", methods=["GET", "POST"])
@login_required
def appoint(entity_id: int) -> View:
    """« Nommer l'administrateur principal »: one of the entity's profiles becomes its
    single APE; the former APE stays Administrateur, and both are told by mail."""
    entity = _entity(entity_id)
    account = _appointer_of(entity)
    form = AppointForm()
    candidates = directory.appointable_profiles(entity)
    form.profil.choices = [SelectChoice(p.id, f"{p.account.full_name} – {p.label}")
                           for p in candidates]
    current = directory.apes_of([entity.id]).get(entity.id)
    if form.validate_on_submit():
        chosen = next(p for p in candidates if p.id == form.profil.data)
        actor = request_actor(account)
        try:
            demoted = directory.appoint_ape(entity, chosen, actor)
        except RuleViolation as exc:
            db.session.rollback()
            form.profil.errors = [*form.profil.errors, str(exc)]
        else:
            _tell_appointed(entity, chosen, demoted, account.full_name)
            name = chosen.account.full_name
            db.session.commit()
            outbox.send_after_commit()
            flash(f"{name} est désormais l'administrateur principal de « {entity.name} ».",
                  "success")
            return redirect(url_for("national.appoint", entity_id=entity.id))
    return render_template("admin/appoint.html", form=form, entity=entity, current=current,
                           candidates=candidates), 400 if request.method == "POST" else 200


def _tell_appointed(entity: Entity, appointed: Profile, demoted: list[Profile], by: str
                    ) -> None:
    label = f"{entity.name} ({entity.finess})" if entity.finess else entity.name
    mail.queue_template(appointed.effective_email, "ape_appointed",
                        name=appointed.account.full_name, profile=appointed, entity=label,
                        appointer=by, profiles_url=public_url("profiles.manage"))
    for former in demoted:
        mail.queue_template(former.effective_email, "ape_replaced",
                            name=former.account.full_name, profile=former,
                            successor=appointed.account.full_name, entity=label,
                            appointer=by)


# --- Catalogue ------------------------------------------------------------------------


def _catalogue_page(domain_form: DomainForm, role_form: RoleForm, status: int = 200
                    ) -> tuple[str, int]:
    domains = list(db.session.scalars(select(Domain).order_by(Domain.label)))
    role_form.role_domain.choices = [SelectChoice("", "Choisissez un domaine"),
                                     *[SelectChoice(d.code, d.label) for d in domains]]
    return render_template("admin/catalogue.html", domains=domains, domain_form=domain_form,
                           role_form=role_form), status


@bp.get("/catalogue")
@national_admin_required
def catalogue_page() -> tuple[str, int]:
    return _catalogue_page(DomainForm(formdata=None), RoleForm(formdata=None))


@bp.post("/catalogue/domaines")
@national_admin_required
def add_domain() -> View:
    form = DomainForm()
    if form.validate_on_submit():
        try:
            domain = catalogue.add_domain(form.domain.data, form.domain_label.data,
                                          request_actor(signed_in_account()),
                                          form.description.data)
        except catalogue.InvalidEntry as exc:
            db.session.rollback()
            form[exc.field].errors = [*form[exc.field].errors, str(exc)]
        else:
            db.session.commit()
            flash(f"Le domaine « {domain.label} » est ajouté au catalogue.", "success")
            return redirect(url_for("national.catalogue_page"))
    return _catalogue_page(form, RoleForm(formdata=None), 400)


@bp.post("/catalogue/roles")
@national_admin_required
def add_role() -> View:
    form = RoleForm()
    form.role_domain.choices = [SelectChoice(code) for code in
                                db.session.scalars(select(Domain.code).order_by(Domain.code))]
    if form.validate_on_submit():
        try:
            role = catalogue.add_role(form.role_domain.data, form.role.data, form.label.data,
                                      request_actor(signed_in_account()),
                                      exclusive=form.exclusive.data)
        except catalogue.CatalogueError as exc:
            db.session.rollback()
            field = getattr(exc, "field", "role")
            target = form["role_domain" if field == "domain" else field]
            target.errors = [*target.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"Le rôle « {role.label} » du domaine {role.domain_code} est enregistré.",
                  "success")
            return redirect(url_for("national.catalogue_page"))
    return _catalogue_page(DomainForm(formdata=None), form, 400)
