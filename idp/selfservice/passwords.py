"""A new password, and what it ends: « Modifier mon mot de passe », and the step that
the reset page (« Mot de passe oublié ? ») shares with it.

A password is changed because it leaked, or might have: the sessions opened with the old
one end with it (signed out, their grants revoked except offline_access ones, their
applications told by back-channel). Who changes it on this page stays signed in, under a
new session id; who resets it by mail signs in again.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms import Field

from idp.core.audit import Actor
from idp.directory import services
from idp.directory.models import Account
from idp.directory.passwords import WeakPassword, check_password_policy, verify_password
from idp.extensions import db
from idp.mail import service as mail
from idp.oidc import logout
from idp.outbox import service as outbox
from idp.selfservice.forms import ChangePasswordForm
from idp.selfservice.views import bp
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.password_links import min_length
from idp.web.redirects import public_url
from idp.web.session import current_login, end_login, renew_session_id
from idp.web.throttle import login_throttle

CHANGED = ("Votre mot de passe a été modifié. Vos sessions ouvertes sur d'autres "
           "navigateurs ont été fermées.")
WRONG_CURRENT = "Le mot de passe actuel saisi est incorrect."
TOO_MANY = ("Trop de tentatives avec un mot de passe incorrect. Pour votre sécurité, "
            "patientez quelques minutes avant de réessayer.")


def set_new_password(account: Account, password: str, actor: Actor, *, reason: str,
                     keep_current: bool) -> None:
    """Give `account` a new password and end its sessions: all but this browser's with
    `keep_current` (whose id is renewed), every one otherwise, and tell the holder by
    mail. The caller commits, then calls `outbox.send_after_commit()`."""
    services.set_password(account, password, actor, min_length())
    logout.end_account_sessions(account, actor, reason, keep_current=keep_current)
    # The holder hears of it at his address: if it was not him, he acts at once.
    mail.queue_template(account.email, "password_changed", account=account,
                        by_reset=reason == "password_reset",
                        login_url=public_url("login.login"))
    login = current_login()
    if keep_current:
        renew_session_id()
    elif login is not None and login.account_id == account.id:
        end_login()


def current_password_refused(account: Account, field: Field) -> int | None:
    """Check the current password typed in `field`, counted like a login attempt
    (someone at an unlocked screen must not guess it freely): None if it is right,
    else the status to answer, the reason written next to the field."""
    guard, ip = login_throttle(), request.remote_addr or "unknown"
    if guard.admit(account.identifier, ip) is not None:
        field.errors.append(TOO_MANY)
        return 429
    if not verify_password(account.password_hash, field.data):
        guard.failed(account.identifier, ip)
        field.errors.append(WRONG_CURRENT)
        return 400
    guard.succeeded(account.identifier, ip)
    return None


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    """Modifier mon mot de passe: the current one is asked, and counted like a login
    attempt (someone at an unlocked screen must not guess it freely)."""
    account = signed_in_account()
    form = ChangePasswordForm()
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        refused = current_password_refused(account, form.current)
        if refused is not None:
            status = refused
        else:
            try:
                check_password_policy(form.password.data, min_length())
            except WeakPassword as exc:
                form.password.errors.append(str(exc))
            else:
                set_new_password(account, form.password.data, request_actor(account),
                                 reason="password_change", keep_current=True)
                db.session.commit()
                outbox.send_after_commit()
                flash(CHANGED, "success")
                return redirect(url_for("selfservice.home"))
    return render_template("selfservice/change_password.html", form=form,
                           account=account, min_length=min_length()), status
