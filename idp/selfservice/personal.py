"""Mon compte › Mes informations personnelles: name, phone and address, and the email
address, which changes only once a link sent to the new address is opened.

The link carries its code after `#` like the reset link (idp/static/link_code.js
moves it into the confirmation form); it is single-use, expires, works only for the
account that asked for it, and only while that account still has the address it had
when it asked. The former address is told of the change.

The link may be opened in a browser that is not signed in to that account (the mail
read on a phone, another computer): the code proves the new address is the person's,
and the account's password, asked then and counted like a login attempt, proves the
account is. Nobody is signed in by it.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.core.errors import RuleViolation
from idp.directory import accounts
from idp.directory.enums import AccountState
from idp.directory.models import Account
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import service as outbox
from idp.selfservice.forms import EmailChangeForm, EmailConfirmForm, PersonalInformationForm
from idp.selfservice.passwords import current_password_refused
from idp.selfservice.views import bp
from idp.web.access import current_account, login_required, request_actor, signed_in_account
from idp.web.links import MailLinks
from idp.web.redirects import public_url
from idp.web.throttle import anonymous_requests, too_many_requests

View = Response | tuple[str, int]
UPDATED = "Vos informations personnelles ont été enregistrées."
UNCHANGED = "Aucune information n'a été modifiée."
LINK_SENT = ("Un courriel vient d'être envoyé à {address}. Ouvrez le lien qu'il contient "
             "pour confirmer votre nouvelle adresse : elle ne remplacera l'actuelle "
             "qu'une fois confirmée.")
SAME_ADDRESS = "Cette adresse est déjà celle de votre compte."
EMAIL_CHANGED = "Votre adresse électronique est désormais {address}."
INVALID_LINK = ("Ce lien de confirmation n'est plus valable : il a déjà servi, il a expiré, "
                "ou votre adresse a changé depuis. Demandez un nouveau lien depuis vos "
                "informations personnelles.")


def _links() -> MailLinks:
    return MailLinks(current_app.extensions["idp.store"], "email-change")


def _page(account: Account, status: int, *, info: PersonalInformationForm | None = None,
          email: EmailChangeForm | None = None, error: str | None = None) -> tuple[str, int]:
    info = info or PersonalInformationForm(formdata=None, obj=account)
    return render_template("selfservice/personal.html", account=account, info=info,
                           email=email or EmailChangeForm(formdata=None), error=error), status


@bp.route("/informations", methods=["GET", "POST"])
@login_required
def personal_information() -> View:
    account = signed_in_account()
    if request.method == "GET":
        return _page(account, 200)
    form, error = PersonalInformationForm(), None
    if form.validate_on_submit():
        try:
            changes = accounts.update_personal_information(
                account, given_name=form.given_name.data, family_name=form.family_name.data,
                phone=form.phone.data, address=form.address.data,
                actor=request_actor(account))
        except RuleViolation as exc:
            error = str(exc)
        else:
            db.session.commit()
            flash(UPDATED if changes else UNCHANGED, "success")
            return redirect(url_for("selfservice.personal_information"))
    return _page(account, 400, info=form, error=error)


@bp.post("/informations/courriel")
@login_required
def request_email_change() -> View:
    """Send the confirmation link to the new address; nothing changes before it is opened."""
    account = signed_in_account()
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _page(account, 400, email=form)
    refused = current_password_refused(account, form.current)
    if refused is not None:
        return _page(account, refused, email=form)
    address = form.email.data
    if address.lower() == account.email.lower():
        form.email.errors.append(SAME_ADDRESS)
        return _page(account, 400, email=form)
    if not anonymous_requests("email-change").allow(str(account.id)):
        form.email.errors.append(too_many_requests())
        return _page(account, 429, email=form)
    ttl = current_app.config["IDP"]["security"]["email_change_ttl"]
    token = _links().issue({"account_id": account.id, "email": address,
                            "from": account.email}, ttl)
    mail.queue_template(address, "email_change", name=account.full_name, account=account,
                        confirm_url=f"{public_url('selfservice.confirm_email')}#{token}",
                        code=token, hours=max(1, ttl // 3600))
    accounts.record_email_change_request(account, address, request_actor(account))
    db.session.commit()
    outbox.send_after_commit()
    flash(LINK_SENT.format(address=address), "success")
    return redirect(url_for("selfservice.personal_information"))


def _no_store(body: str, status: int) -> Response:
    # The page may hold the code (a hidden field once posted): kept by no cache, no Referer.
    response = current_app.make_response((body, status))
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _confirmed_for(account: Account, form: EmailConfirmForm,
                   signed_in: Account | None) -> int | None:
    """Whether this browser may confirm for `account`: signed in to it, or the account's
    password typed (None); else the status of the page that asks for it."""
    if signed_in is not None and signed_in.id == account.id:
        return None
    if not form.password.data:
        return 200
    return current_password_refused(account, form.password)


@bp.route("/courriel/confirmer", methods=["GET", "POST"])
def confirm_email() -> Response:
    """The link's page: its script posts the code; the address of the account that asked
    changes, once this browser is signed in to it or has typed its password."""
    form = EmailConfirmForm()
    if not form.validate_on_submit():
        return _no_store(render_template("selfservice/email_code.html", form=form),
                         400 if request.method == "POST" else 200)
    links, code = _links(), form.code.data.strip()
    data: dict[str, Any] | None = links.peek(code)
    account = db.session.get(Account, data["account_id"]) if data is not None else None
    if account is None or account.state != AccountState.ACTIVE or data.get("from") != account.email:
        return _no_store(render_template("selfservice/email_invalid.html",
                                         message=INVALID_LINK), 400)
    signed_in = current_account()
    status = _confirmed_for(account, form, signed_in)
    if status is not None:
        return _no_store(render_template(
            "selfservice/email_password.html", form=form, code=code, account=account,
            address=data["email"], other=signed_in is not None), status)
    # Taken (used up) only now, so that of two uses one applies.
    data = links.take(code)
    if data is None:
        return _no_store(render_template("selfservice/email_invalid.html",
                                         message=INVALID_LINK), 400)
    former = accounts.change_email(account, data["email"], request_actor(account))
    mail.queue_template(former, "email_changed", name=account.full_name, account=account,
                        address=account.email)
    db.session.commit()
    outbox.send_after_commit()
    flash(EMAIL_CHANGED.format(address=account.email), "success")
    if signed_in is not None and signed_in.id == account.id:
        return redirect(url_for("selfservice.personal_information"))
    return redirect(url_for("login.login"))
