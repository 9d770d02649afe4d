"""Account pages that work by mail: « Identifiant perdu ? », « Mot de passe oublié ? »
(a single-use reset link) and « Vérifier mon courriel ».

The reset link carries its code after `#`, which browsers never send: its page is the
web kernel's `PasswordLink`, shared with the first password of a newcomer.

The recovery forms give the same answer, after the same work, whatever was typed: they
queue the request and the lookup happens in the background (`recovery`, run through
`idp.web.deferred`), so nobody learns from them whether an account exists, not even from
their timing; an identifier is only ever written in a mail. The mails are queued in the
transaction of the change and sent after the commit, in the background: a mail server
that is down costs the person nothing but a delay.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from idp.core.audit import record
from idp.core.clock import PARIS
from idp.directory.enums import AccountState
from idp.directory.models import Account
from idp.directory.passwords import password_stamp
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from idp.selfservice import recovery
from idp.selfservice.forms import CheckMailForm, ForgotPasswordForm, LostIdentifierForm
from idp.selfservice.passwords import set_new_password
from idp.selfservice.views import bp
from idp.web import deferred
from idp.web.access import current_account, request_actor
from idp.web.forms import Form
from idp.web.password_links import PasswordLink
from idp.web.redirects import public_url
from idp.web.throttle import (
    address_allowed,
    anonymous_requests,
    login_throttle,
    too_many_requests,
)

IDENTIFIER_SENT = "Si un compte correspond à cette adresse, un courriel vient de vous être envoyé."
RESET_SENT = ("Si ces informations correspondent à un compte, un courriel vient de vous "
              "être envoyé. Il contient un lien pour choisir un nouveau mot de passe.")
CHECK_SENT = ("Un courriel de test vient d'être envoyé à l'adresse indiquée. S'il ne vous "
              "parvient pas d'ici quelques minutes, vérifiez votre dossier de courriers "
              "indésirables, puis demandez à votre service informatique de laisser passer "
              "les courriels de {sender}.")
View = Response | str | tuple[str, int]


def _ip() -> str:
    return request.remote_addr or "unknown"


def _too_many(template: str, **context: Any) -> tuple[str, int]:
    return render_template(template, error=too_many_requests(), **context), 429


def _form_page(template: str, form: Form) -> tuple[str, int]:
    return render_template(template, form=form), 400 if request.method == "POST" else 200


def _sent_page(title: str, message: str) -> str:
    return render_template("selfservice/mail_sent.html", title=title, message=message)


# --- Identifiant perdu ? --------------------------------------------------------------


@bp.route("/identifiant-perdu", methods=["GET", "POST"])
def lost_identifier() -> View:
    form = LostIdentifierForm()
    if not form.validate_on_submit():
        return _form_page("selfservice/lost_identifier.html", form)
    if not address_allowed():
        return _too_many("selfservice/lost_identifier.html", form=form)
    deferred.queue(recovery.REMINDER, address=form.email.data.strip(),
                   login_url=public_url("login.login"))
    db.session.commit()
    outbox.send_after_commit()
    return _sent_page("Identifiant perdu ?", IDENTIFIER_SENT)


# --- Mot de passe oublié ? ------------------------------------------------------------


def _reset_account(data: dict[str, Any] | None) -> Account | None:
    """The account a reset link is for, if the link is live and still applies."""
    if not data:
        return None
    account = db.session.get(Account, data.get("account_id"))
    if account is None or account.state != AccountState.ACTIVE:
        return None
    return account if data.get("stamp") == password_stamp(account.password_hash) else None


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgot_password() -> View:
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return _form_page("selfservice/forgot_password.html", form)
    if not address_allowed():
        return _too_many("selfservice/forgot_password.html", form=form)
    deferred.queue(recovery.RESET, identifier=form.identifier.data.strip(),
                   address=form.email.data.strip(),
                   reset_url=public_url("selfservice.reset_password"))
    db.session.commit()
    outbox.send_after_commit()
    return _sent_page("Mot de passe oublié ?", RESET_SENT)


def _reset(account: Account, password: str) -> Response:
    set_new_password(account, password, request_actor(account), reason="password_reset",
                     keep_current=False)
    db.session.commit()
    outbox.send_after_commit()
    login_throttle().succeeded(account.identifier, _ip())  # lifts a login lockout
    flash("Votre mot de passe a été modifié. Vous pouvez vous connecter avec votre "
          "nouveau mot de passe.", "success")
    return redirect(url_for("login.login"))


@bp.route("/mot-de-passe-oublie/nouveau", methods=["GET", "POST"])
def reset_password() -> Response:
    """The reset link's page: first the code, then the new password."""
    return PasswordLink(recovery.reset_links(), _reset_account, _reset,
                        "selfservice.reset_password", "Choisir un nouveau mot de passe",
                        "selfservice/reset_invalid.html").serve()


# --- Vérifier mon courriel ------------------------------------------------------------


def _check_status(account: Account) -> dict[str, str] | None:
    """What became of the last test mail sent from this page in this session."""
    message = db.session.get(OutboxItem, session.get("mail_check_id") or 0)
    if message is None or message.channel != mail.CHANNEL or message.recipient != account.email:
        return None
    if message.delivered_at is not None:
        when = message.delivered_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")
        return {"state": "sent", "text": f"Le dernier courriel de test a été remis au "
                                         f"serveur de messagerie le {when}."}
    if message.abandoned_at is not None:
        return {"state": "abandoned", "text": "Le dernier courriel de test n'a pas pu "
                "être envoyé : le serveur de messagerie l'a refusé ou n'a pas répondu "
                "pendant plusieurs jours. Signalez-le à l'assistance."}
    if message.last_error:
        return {"state": "retry", "text": "Le dernier courriel de test n'a pas encore pu "
                "être envoyé : le serveur de messagerie ne répond pas. Un nouvel essai "
                "aura lieu automatiquement, vous n'avez rien à faire."}
    return {"state": "pending", "text": "Le dernier courriel de test est en cours d'envoi. "
                                        "Actualisez la page dans quelques instants."}


def _sender() -> str:
    """The address PLAGE's mails come from, which a mail filter must let through."""
    return parseaddr(current_app.config["IDP"]["mail"]["sender"])[1]


def _check_page(code: int, **context: Any) -> tuple[str, int]:
    return render_template("selfservice/check_mail.html", sender=_sender(), **context), code


@bp.route("/verifier-mon-courriel", methods=["GET", "POST"])
def check_mail() -> View:
    """Vérifier mon courriel (training case 7): a test mail to the account's address for
    the person signed in, to the address typed for anyone else (who cannot sign in
    because mails do not reach him, say)."""
    account = current_account()
    if account is None:
        return _check_address()
    form = Form()
    if form.validate_on_submit():
        if not anonymous_requests("check").allow(str(account.id)):
            return _too_many("selfservice/check_mail.html", form=form, account=account,
                             status=_check_status(account), sender=_sender())
        message = mail.queue_template(account.email, "check",
                                      name=account.full_name, address=account.email)
        record(request_actor(account),
               "account.mail_check", target=account)
        db.session.commit()
        outbox.send_after_commit()
        session["mail_check_id"] = message.id
        flash(f"Un courriel de test vient d'être envoyé à {account.email}. S'il ne vous "
              "parvient pas d'ici quelques minutes, vérifiez votre dossier de courriers "
              "indésirables.", "success")
        return redirect(url_for("selfservice.check_mail"))
    return _check_page(400 if request.method == "POST" else 200, form=form, account=account,
                       status=_check_status(account))


def _check_address() -> View:
    """The visitor's form: the same answer, after the same work, whatever the address
    (nothing is looked up: the mail goes to the address typed), which gets at most
    `recovery_max_requests` test mails a window (past that, nothing is sent)."""
    form = CheckMailForm()
    if not form.validate_on_submit():
        return _check_page(400 if request.method == "POST" else 200, form=form)
    if not address_allowed():
        return _too_many("selfservice/check_mail.html", form=form, sender=_sender())
    address = form.email.data
    if anonymous_requests("check-address").allow(address.lower()):
        mail.queue_template(address, "check", name=None, address=address)
        record(request_actor(None), "mail_check", email=address)
        db.session.commit()
        outbox.send_after_commit()
    return _sent_page("Vérifier mon courriel", CHECK_SENT.format(sender=_sender()))
