"""The requester's pages: « Créer un compte » (the duplicate check, then the request
form), « + Demander un profil », Mes demandes (follow, withdraw), the « Entité » field's
list, the applications page, and the first password of an accepted newcomer.

The duplicate check answers the same page whether or not the name matched: an
identifier is only ever written in a mail to its holder.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from idp.core.errors import RuleViolation
from idp.directory import requests, services
from idp.directory.models import Account, Domain, ProfileRequest
from idp.extensions import db
from idp.outbox import service as outbox
from idp.requests import mails
from idp.requests.forms import (
    STATUS_LABELS,
    AccountRequestForm,
    NameForm,
    ProfileRequestForm,
)
from idp.requests.wording import entity_choice, entity_phrase, recipients_line
from idp.web import deferred
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.links import MailLinks
from idp.web.password_links import PasswordLink, min_length
from idp.web.redirects import public_url
from idp.web.throttle import address_allowed, anonymous_requests, too_many_requests

bp = Blueprint("requests", __name__)

View = Response | str | tuple[str, int]


def _security() -> dict[str, Any]:
    return current_app.config["IDP"]["security"]


def activation_links() -> MailLinks:
    return MailLinks(current_app.extensions["idp.store"], "account-activation")


def _with_choices(form: ProfileRequestForm) -> ProfileRequestForm:
    form.applications.choices = [SelectChoice(d.code, d.label)
                                for d in requests.requestable_domains()]
    return form


def _details(form: ProfileRequestForm, account: Account | None) -> requests.RequestDetails:
    personal: dict[str, Any] = (
        {"given_name": account.given_name, "family_name": account.family_name,
         "email": account.email, "phone": account.phone, "address": account.address}
        if account is not None else
        {"given_name": form.given_name.data, "family_name": form.family_name.data,
         "email": form.email.data.strip(), "phone": form.phone.data.strip(),
         "address": (form.address.data or "").strip() or None})
    return requests.RequestDetails(
        label=form.label.data, applications=list(form.applications.data or []),
        wants_ape=form.wants_ape.data == "oui",
        comment=(form.comment.data or "").strip() or None, **personal)


def _file(form: ProfileRequestForm, account: Account | None) -> requests.RequestDetails | None:
    """Store the request and queue its mails, in one transaction; None (and the error
    next to the entity field) when a rule refuses it."""
    entity = form.chosen_entity()
    assert entity is not None  # checked by the form
    details = _details(form, account)
    try:
        filed = requests.submit(entity, details, request_actor(account), account)
    except RuleViolation as exc:
        db.session.rollback()
        form.entity_search.errors = [*form.entity_search.errors, str(exc)]
        return None
    mails.request_filed(filed)
    db.session.commit()
    outbox.send_after_commit()
    return details


def _looking_up() -> bool:
    """« Rechercher l'entité » was pressed (the page's script not running): the form
    comes back with the matching entities to choose from, the other fields kept."""
    return request.method == "POST" and "entity_lookup" in request.form


def _request_page(template: str, form: ProfileRequestForm, status: int = 200,
                  **context: Any) -> tuple[str, int]:
    """The form; where no entity is chosen (a search asked, or text typed without a
    choice), the entities matching the text as a list of choices; where one is, to whom
    the request will go."""
    entity = None if _looking_up() else form.chosen_entity()
    matches = None
    if entity is None and (_looking_up() or form.entity_search.errors):
        matches = [(e.code, entity_choice(e))
                   for e in requests.search_entities(form.entity_search.data or "")]
    # To whom the request will go, as the page's script says it after a choice: written
    # by the server too, for a page without scripts and for the confirmation page.
    recipients = recipients_line(requests.deciding_entities(
        entity, form.wants_ape.data == "oui")) if entity else ""
    return render_template(template, form=form, entity=entity, matches=matches,
                           entity_label=entity_choice(entity) if entity else "",
                           recipients=recipients, **context), status


# --- Créer un compte ------------------------------------------------------------------


@bp.route("/compte/creer", methods=["GET", "POST"])
def create_account() -> View:
    """Step 1: first and last name, Valider; the same answer whatever the check found."""
    form = NameForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("requests/create_account.html", form=form), status
    if not address_allowed():
        return render_template("requests/create_account.html", form=form,
                               error=too_many_requests()), 429
    given, family = form.given_name.data.strip(), form.family_name.data.strip()
    # The holders of that name, if any, are told in the background: the page does the
    # same work whatever the name.
    deferred.queue(mails.NAME_CHECK, given_name=given, family_name=family,
                   login_url=public_url("login.login"))
    db.session.commit()
    outbox.send_after_commit()
    request_form = _with_choices(AccountRequestForm(formdata=None, given_name=given,
                                                    family_name=family))
    return _request_page("requests/account_request.html", request_form, checked=True)


@bp.post("/compte/creer/demande")
def account_request() -> View:
    """Step 2: the request form of the guide, Envoyer."""
    form = _with_choices(AccountRequestForm())
    if _looking_up():
        return _request_page("requests/account_request.html", form)
    if not form.validate_on_submit():
        return _request_page("requests/account_request.html", form, 400)
    if (not address_allowed()
            or not anonymous_requests("account-request").allow(form.email.data.strip().lower())):
        return _request_page("requests/account_request.html", form, 429,
                             error=too_many_requests())
    details = _file(form, None)
    if details is None:
        return _request_page("requests/account_request.html", form, 400)
    return render_template("requests/sent.html", details=details,
                           entity=entity_phrase(form.chosen_entity()))  # type: ignore[arg-type]


# --- + Demander un profil, Mes demandes -----------------------------------------------


@bp.get("/compte/demandes")
@login_required
def my_requests() -> str:
    account = signed_in_account()
    return render_template("requests/my_requests.html", rows=requests.requests_of(account),
                           statuses=STATUS_LABELS, entity_phrase=entity_phrase)


@bp.route("/compte/demandes/nouvelle", methods=["GET", "POST"])
@login_required
def new_profile_request() -> View:
    """The form, Envoyer; then « Valider l'envoi de la demande aux administrateurs »,
    Confirmer (the confirmation page posts the same fields again)."""
    account = signed_in_account()
    form = _with_choices(ProfileRequestForm())
    if request.method == "GET":  # offered by an access-denied page: entity, applications
        form.entity.data = request.args.get("entite", "")[:32]
        form.applications.data = request.args.getlist("applications")[:20]
    if _looking_up():
        return _request_page("requests/profile_request.html", form)
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return _request_page("requests/profile_request.html", form, status)
    if request.form.get("step") != "confirmer":
        return _request_page("requests/confirm.html", form)
    if _file(form, account) is None:
        return _request_page("requests/profile_request.html", form, 400)
    flash("Votre demande a été envoyée aux administrateurs. Vous recevrez un courriel "
          "dès qu'elle aura été traitée.", "success")
    return redirect(url_for("requests.my_requests"))


@bp.post("/compte/demandes/<int:request_id>/retirer")
@login_required
def withdraw(request_id: int) -> Response:
    account = signed_in_account()
    mine = db.session.get(ProfileRequest, request_id)
    if mine is None or mine.account_id != account.id:
        abort(404)
    try:
        requests.withdraw(mine, account, request_actor(account))
    except requests.AlreadyDecided as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Votre demande a été retirée.", "success")
    return redirect(url_for("requests.my_requests"))


# --- the « Entité » field and the applications page -----------------------------------


@bp.get("/demandes/entites")
def entity_choices() -> Response:
    """The list offered under the « Entité » field (JSON for the page's script)."""
    text = request.args.get("q", "")[:100]
    return jsonify([{"code": e.code, "label": entity_choice(e)}
                    for e in requests.search_entities(text)])


@bp.get("/demandes/entites/<code>/destinataires")
def entity_recipients(code: str) -> Response:
    """The line saying to whom the request will go, for either answer to the APE question."""
    try:
        entity = services.get_entity(code[:32])
    except RuleViolation:
        abort(404)
    return jsonify({"non": recipients_line(requests.deciding_entities(entity, False)),
                    "oui": recipients_line(requests.deciding_entities(entity, True))})


@bp.get("/demandes/applications")
def applications() -> str:
    """« Liste des applications et la description des habilitations correspondantes »."""
    domains = db.session.query(Domain).order_by(Domain.label).all()
    return render_template("requests/applications.html", domains=domains)


# --- the first password of an accepted newcomer ---------------------------------------


def _activation_account(data: dict[str, Any] | None) -> Account | None:
    """The account a live link is for, while it still has no password."""
    account = db.session.get(Account, (data or {}).get("account_id") or 0)
    return account if account is not None and account.password_hash is None else None


def _activate(account: Account, password: str) -> Response:
    services.set_password(account, password, request_actor(account), min_length())
    db.session.commit()
    flash("Votre mot de passe est enregistré. Vous pouvez vous connecter avec votre "
          f"identifiant Plage {account.identifier}.", "success")
    return redirect(url_for("login.login"))


@bp.route("/compte/activation", methods=["GET", "POST"])
def activate() -> Response:
    """The page of the link sent to an accepted newcomer: the code, then the first
    password."""
    return PasswordLink(activation_links(), _activation_account, _activate,
                        "requests.activate", "Choisir votre mot de passe",
                        "requests/activation_invalid.html").serve()


# The administrators' queues are in their own module, on this blueprint.
from idp.requests import queue  # noqa: E402, F401
