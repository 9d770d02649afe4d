"""The browser's side of passkeys: the options `idp/static/passkeys.js` hands to
`navigator.credentials` (each with a challenge issued to this session), and the sign-in
without password (« Se connecter avec une clé d'accès », `acr` eidas2).

The answers go back in ordinary forms: a new passkey to `mfa.add_passkey`, a passkey
after the password to `mfa.challenge`, a sign-in without password to `sign_in` here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.core.audit import record
from idp.directory.models import Account
from idp.extensions import db
from idp.mfa import passkeys
from idp.mfa.forms import PasskeyAnswerForm
from idp.mfa.views import (
    NO_PASSKEYS,
    OTP_SPACE,
    commit,
    refusal_message,
    registration_purpose,
    relying_party,
    second_factor_purpose,
    user_handle_secret,
)
from idp.ops import metrics
from idp.web import interactions
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.redirects import safe_next
from idp.web.second_factor import issue_challenge, pending_second_factor, take_challenge
from idp.web.session import ACR_SECOND_FACTOR, start_login
from idp.web.throttle import login_throttle

bp = Blueprint("passkeys", __name__)

SIGN_IN = "sign_in"
NOT_RECOGNISED = ("Cette clé d'accès n'a pas été reconnue. Utilisez une clé enregistrée "
                  "sur votre compte PLAGE, ou connectez-vous avec votre mot de passe.")
EXPIRED = "La connexion a expiré. Reprenez-la depuis la page de connexion."


@bp.app_context_processor
def _offered() -> dict[str, bool]:
    """`passkeys_offered` for every page (the login page's link)."""
    return {"passkeys_offered": relying_party() is not None}


def _options(document: str) -> tuple[Response | str, int, dict[str, str]]:
    return document, 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _unavailable(message: str, status: int) -> tuple[str, int, dict[str, str]]:
    return json.dumps({"error": message}), status, {"Content-Type": "application/json"}


@bp.post("/compte/double-authentification/cles-d-acces/options")
@login_required
def registration_options() -> tuple[Response | str, int, dict[str, str]]:
    rp = relying_party()
    if rp is None:
        return _unavailable(NO_PASSKEYS, 404)
    account = signed_in_account()
    challenge = issue_challenge(registration_purpose(account), passkeys.TIMEOUT)
    return _options(passkeys.registration_options(rp, account, challenge,
                                                  user_handle_secret()))


@bp.post("/connexion/code/cle-d-acces/options")
def second_factor_options() -> tuple[Response | str, int, dict[str, str]]:
    """After the password: the passkeys of the person the code page waits for."""
    rp, pending = relying_party(), pending_second_factor()
    account = db.session.get(Account, pending.account_id) if pending else None
    if rp is None:
        return _unavailable(NO_PASSKEYS, 404)
    if account is None:
        return _unavailable(EXPIRED, 400)
    challenge = issue_challenge(second_factor_purpose(account), passkeys.TIMEOUT)
    return _options(passkeys.authentication_options(rp, challenge, account))


@bp.post("/connexion/cle-d-acces/options")
def sign_in_options() -> tuple[Response | str, int, dict[str, str]]:
    rp = relying_party()
    if rp is None:
        return _unavailable(NO_PASSKEYS, 404)
    challenge = issue_challenge(SIGN_IN, passkeys.TIMEOUT)
    return _options(passkeys.authentication_options(rp, challenge, None))


def _subject(answer: str) -> str:
    """What the throttle counts a sign-in attempt against before anyone is known: the
    credential the answer names (made-up ones count against the address, as made-up
    identifiers do on the login page)."""
    try:
        named = json.loads(answer).get("id")
    except (ValueError, AttributeError):
        named = None
    return "passkey:" + (named[:64] if isinstance(named, str) else "?")


@bp.route("/connexion/cle-d-acces", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int]:
    """Sign in with a passkey alone: discoverable, the person verified by the
    authenticator (two factors on one device), hence `eidas2`."""
    rp = relying_party()
    if rp is None:
        return render_template("mfa/passkey_sign_in.html", form=None,
                               error=NO_PASSKEYS), 404
    form = PasskeyAnswerForm()
    if request.method == "GET":
        uid = request.args.get("interaction")
        form.next.data = interactions.resume_url(uid) if uid and interactions.load(uid) \
            else safe_next(request.args.get("next"))
        return render_template("mfa/passkey_sign_in.html", form=form, error=None), 200
    if not form.validate_on_submit():
        take_challenge(SIGN_IN)
        return render_template("mfa/passkey_sign_in.html", form=form, error=None), 400
    guard, ip = login_throttle(OTP_SPACE), request.remote_addr or "unknown"
    subject = _subject(form.credential.data)
    refusal = guard.admit(subject, ip)
    challenge = take_challenge(SIGN_IN)
    passkey, reason = None, refusal.reason if refusal else "no_challenge"
    if refusal is None and challenge is not None:
        try:
            passkey = passkeys.authenticate(rp, form.credential.data, challenge,
                                            user_handle_secret(), None)
        except passkeys.PasskeyRefused as refused:
            reason = refused.reason
    if passkey is None:
        if refusal is None:
            guard.failed(subject, ip)
        record(request_actor(None, anonymous=subject), "login.failure", reason=reason)
        metrics.login(refusal.reason if refusal else "bad_credentials")
        commit()
        error, status = (refusal_message(refusal), 429) if refusal else (NOT_RECOGNISED, 401)
        return render_template("mfa/passkey_sign_in.html", form=form, error=error), status
    guard.succeeded(subject, ip)
    account = db.session.get(Account, passkey.account_id)
    assert account is not None  # the passkey's row cascades with its account
    start_login(account.id, amr=passkeys.amr(passkey, passwordless=True),
                acr=ACR_SECOND_FACTOR)
    account.last_login_at = datetime.now(UTC)
    record(request_actor(account), "login.success", target=account, method="passkey")
    metrics.login("success")
    commit()
    return redirect(safe_next(form.next.data) or url_for("selfservice.home"))
