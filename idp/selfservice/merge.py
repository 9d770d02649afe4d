"""Mon compte › Regroupement de compte (principle 1: one account per person).

A person who has two accounts signs in here to the second one, with its identifier and
password (counted by the login's brute-force rules: this form must not be a way round
them), sees what will move, and confirms: the second account's profiles move to the
account he is signed in with, and the second account closes, its sessions, grants and
refresh tokens ending with it. Which account was proved is kept in the server-side
session, for a few minutes, never in the form.
"""

from __future__ import annotations

import time
from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from idp.core.errors import RuleViolation
from idp.directory import accounts, rules, services
from idp.directory.models import Account
from idp.extensions import db
from idp.oidc import logout
from idp.outbox import service as outbox
from idp.selfservice.forms import MergeSignInForm
from idp.selfservice.passwords import TOO_MANY
from idp.selfservice.views import bp
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.forms import Form
from idp.web.throttle import login_throttle, warn_holder

CANDIDATE = "merge_candidate"  # session key: {"kept": id, "closed": id, "at": epoch}
CONFIRM_WITHIN = 600  # seconds between signing in to the second account and confirming
BAD_CREDENTIALS = ("Identifiant ou mot de passe incorrect. Vérifiez l'identifiant et le "
                   "mot de passe de votre second compte.")
EXPIRED = ("Le délai pour confirmer le regroupement est dépassé : saisissez de nouveau "
           "l'identifiant et le mot de passe de votre second compte.")
MERGED = ("Les comptes sont regroupés : les profils du compte {closed} sont désormais sur "
          "votre compte {kept}, et le compte {closed} est fermé.")
View = Response | tuple[str, int]


def _sign_in_page(account: Account, form: MergeSignInForm, status: int,
                  error: str | None = None) -> tuple[str, int]:
    return render_template("selfservice/merge.html", account=account, form=form,
                           error=error), status


def _candidate(account: Account) -> Account | None:
    """The second account proved in this session by the person signed in, if recent."""
    data: dict[str, Any] | None = session.get(CANDIDATE)
    if (not data or data.get("kept") != account.id
            or time.time() - data.get("at", 0) > CONFIRM_WITHIN):
        return None
    return db.session.get(Account, data.get("closed"))


@bp.route("/regroupement", methods=["GET", "POST"])
@login_required
def merge() -> View:
    account = signed_in_account()
    form = MergeSignInForm()
    if not form.validate_on_submit():
        return _sign_in_page(account, form, 400 if request.method == "POST" else 200)
    identifier, ip = form.identifier.data, request.remote_addr or "unknown"
    guard = login_throttle()
    if guard.admit(identifier, ip) is not None:
        return _sign_in_page(account, form, 429, TOO_MANY)
    other = services.authenticate(identifier, form.password.data)
    if other is None:
        if guard.failed(identifier, ip):
            warn_holder(identifier)
            db.session.commit()
            outbox.send_after_commit()
        form.password.errors.append(BAD_CREDENTIALS)
        return _sign_in_page(account, form, 401)
    guard.succeeded(identifier, ip)
    db.session.commit()  # authenticate may upgrade the password's hash
    try:
        rules.check_mergeable(account, other)
    except RuleViolation as exc:
        return _sign_in_page(account, form, 409, str(exc))
    session[CANDIDATE] = {"kept": account.id, "closed": other.id, "at": time.time()}
    return redirect(url_for("selfservice.confirm_merge"))


@bp.route("/regroupement/confirmer", methods=["GET", "POST"])
@login_required
def confirm_merge() -> View:
    account = signed_in_account()
    other = _candidate(account)
    if other is None:
        flash(EXPIRED, "error")
        return redirect(url_for("selfservice.merge"))
    form = Form()
    if not form.validate_on_submit():
        return render_template("selfservice/merge_confirm.html", account=account,
                               other=other, form=form), 400 if request.method == "POST" else 200
    session.pop(CANDIDATE, None)
    actor = request_actor(account)
    try:
        accounts.merge_accounts(account, other, actor)
    except RuleViolation as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("selfservice.merge"))
    logout.end_closed_account(other, actor, "account_merged")
    db.session.commit()
    outbox.send_after_commit()
    flash(MERGED.format(closed=other.identifier, kept=account.identifier), "success")
    return redirect(url_for("selfservice.home"))
