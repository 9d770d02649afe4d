"""The second factor's pages: « Double authentification » in Mon compte (enrol, see the
recovery codes once, new recovery codes, disable) and the login's second page (« Code de
vérification »).

The login page hands over to `challenge` with a pending second factor
(`idp.web.second_factor`): after a right password, or when an application needs a higher
level than the person signed in has (step-up). Codes are throttled like passwords
(`LoginThrottle`, key space `otp`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from idp.core.audit import record
from idp.directory.models import Account
from idp.directory.passwords import verify_password
from idp.extensions import db
from idp.mail import service as mail
from idp.mfa import service
from idp.mfa.forms import ChallengeForm, EnrolForm, ProofForm
from idp.mfa.models import SecondFactor
from idp.ops import metrics
from idp.outbox import service as outbox
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.redirects import public_url, safe_next
from idp.web.second_factor import (
    devices_remembered,
    forget_second_factor,
    pending_second_factor,
    remember_device,
)
from idp.web.session import ACR_SECOND_FACTOR, start_login
from idp.web.throttle import Refusal, login_throttle

bp = Blueprint("mfa", __name__)

OTP_SPACE = "otp"
WRONG_CODE = "Code de vérification incorrect."
WRONG_PROOF = "Le mot de passe ou le code saisi est incorrect."
LOCKED_OUT = ("Trop de codes incorrects. Pour votre sécurité, réessayez dans {minutes} "
              "minutes ou utilisez un code de secours.")
SLOWED = ("Trop de tentatives en peu de temps. Pour votre sécurité, patientez {seconds} "
          "secondes avant de réessayer.")
DISABLED = "La double authentification est désactivée."
RENEW = "renew"  # the prefix of the new recovery codes' form, beside the disabling one


def _passphrase() -> str:
    return current_app.config["IDP"]["keys"]["passphrase"]


def _refusal_message(refusal: Refusal) -> str:
    if refusal.reason == "locked":
        return LOCKED_OUT.format(minutes=max(1, refusal.seconds // 60))
    return SLOWED.format(seconds=refusal.seconds)


def _commit() -> None:
    db.session.commit()
    outbox.send_after_commit()


# --- the login's second page ----------------------------------------------------------


@bp.route("/connexion/code", methods=["GET", "POST"])
def challenge() -> Response | tuple[str, int]:
    pending = pending_second_factor()
    account = db.session.get(Account, pending.account_id) if pending else None
    if pending is None or account is None:
        return redirect(url_for("login.login"))
    factor = service.enrolled(account)
    if factor is None:
        # An application requires eidas2 of someone who has no second factor yet.
        forget_second_factor()
        if not pending.step_up:
            return redirect(url_for("login.login"))
        return render_template("mfa/enrol_first.html", enrol_url=url_for(
            "mfa.manage", next=pending.next_url)), 200
    form = ChallengeForm()
    error, status = None, 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        guard, ip = login_throttle(OTP_SPACE), request.remote_addr or "unknown"
        actor = request_actor(account)
        refusal = guard.admit(account.identifier, ip)
        proof = None if refusal else service.verify(account, form.code.data, _passphrase(),
                                                    actor)
        if proof is None:
            if refusal is not None:
                error, status = _refusal_message(refusal), 429
            else:
                if guard.failed(account.identifier, ip):
                    mail.queue_template(account.email, "second_factor_failures",
                                        name=account.full_name,
                                        reset_url=public_url("selfservice.forgot_password"))
                error, status = WRONG_CODE, 401
            record(actor, "login.failure", target=account,
                   reason=refusal.reason if refusal else "bad_second_factor")
            metrics.second_factor_check(refusal.reason if refusal else "bad_code")
            _commit()
        else:
            guard.succeeded(account.identifier, ip)
            start_login(account.id, amr=["pwd", "otp"], acr=ACR_SECOND_FACTOR)
            account.last_login_at = datetime.now(UTC)
            record(actor, "login.success", target=account, second_factor=str(proof))
            metrics.second_factor_check("success")
            stamp = service.device_stamp(factor)
            _commit()
            response = redirect(pending.next_url)
            if form.remember.data and devices_remembered():
                remember_device(response, account.id, stamp)
            return response
    return render_template("mfa/challenge.html", form=form, error=error,
                           step_up=pending.step_up,
                           offer_remember=devices_remembered() and not pending.step_up,
                           ), status


# --- Mon compte › Double authentification ---------------------------------------------


@bp.route("/compte/double-authentification", methods=["GET", "POST"])
@login_required
def manage() -> Response | tuple[str, int]:
    """The state of the second factor; without one, the enrolment (QR code, first code),
    which ends on the recovery codes, shown this once."""
    account = signed_in_account()
    factor = service.enrolled(account)
    if factor is not None:
        return _manage_page(account, factor, 200)
    form = EnrolForm()
    error, status = None, 200
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
    elif form.validate_on_submit():
        codes = service.confirm(account, form.code.data, _passphrase(),
                                request_actor(account))
        if codes is not None:
            _commit()
            return render_template("mfa/recovery_codes.html", codes=codes,
                                   next_url=safe_next(form.next.data)), 200
        error, status = WRONG_CODE, 400
    else:
        status = 400
    secret = service.pending_secret(account, _passphrase())
    db.session.commit()  # the enrolment under way keeps its secret when the page reloads
    uri = service.provisioning_uri(account, secret)
    return render_template("mfa/enrol.html", form=form, error=error,
                           qr_code=service.qr_code_svg(uri),
                           secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                           ), status


def _manage_page(account: Account, factor: SecondFactor, status: int, *,
                 form: ProofForm | None = None, error: str | None = None,
                 renew: ProofForm | None = None, renew_error: str | None = None,
                 ) -> tuple[str, int]:
    """The page of an enrolled person: its two forms, the one posted with its errors."""
    return render_template(
        "mfa/manage.html", factor=factor, form=form or ProofForm(formdata=None),
        error=error, renew=renew or ProofForm(formdata=None, prefix=RENEW),
        renew_error=renew_error, remaining=service.remaining_recovery_codes(account)
    ), status


def _proof_refused(account: Account, form: ProofForm) -> tuple[str | None, int] | None:
    """Check the password or code typed to change the second factor, counted like a
    login attempt (someone at an unlocked screen must not change it): None if right,
    else the message and the status to answer."""
    if not form.validate_on_submit():
        return None, 400
    guard, ip = login_throttle(), request.remote_addr or "unknown"
    refusal = guard.admit(account.identifier, ip)
    if refusal is not None:
        return _refusal_message(refusal), 429
    if verify_password(account.password_hash, form.proof.data) or service.verify(
            account, form.proof.data, _passphrase(), request_actor(account)):
        guard.succeeded(account.identifier, ip)
        return None
    guard.failed(account.identifier, ip)
    return WRONG_PROOF, 401


@bp.post("/compte/double-authentification/desactiver")
@login_required
def disable() -> Response | tuple[str, int]:
    """Disable the second factor, once the password or a code is given."""
    account = signed_in_account()
    factor = service.enrolled(account)
    if factor is None:
        return redirect(url_for("mfa.manage"))
    form = ProofForm()
    refused = _proof_refused(account, form)
    if refused is None:
        service.remove(account, request_actor(account))
        _commit()
        flash(DISABLED, "success")
        return redirect(url_for("selfservice.home"))
    error, status = refused
    return _manage_page(account, factor, status, form=form, error=error)


@bp.post("/compte/double-authentification/codes-de-secours")
@login_required
def renew_recovery_codes() -> Response | tuple[str, int]:
    """Ten new recovery codes (lost, used up, seen by someone), the old ones void, once
    the password or a code is given; shown this once, like the first ones."""
    account = signed_in_account()
    factor = service.enrolled(account)
    if factor is None:
        return redirect(url_for("mfa.manage"))
    form = ProofForm(prefix=RENEW)
    refused = _proof_refused(account, form)
    if refused is None:
        codes = service.renew_recovery_codes(account, request_actor(account))
        _commit()
        return render_template("mfa/recovery_codes.html", codes=codes, renewed=True,
                               next_url=None), 200
    error, status = refused
    return _manage_page(account, factor, status, renew=form, renew_error=error)
