"""The second factor's pages: « Double authentification » in Mon compte (enrol, see the
recovery codes once, new recovery codes, disable; add, list and remove passkeys) and the
login's second page (« Code de vérification », or a passkey).

The login page hands over to `challenge` with a pending second factor
(`idp.web.second_factor`): after a right password, or when an application needs a higher
level than the person signed in has (step-up). Codes and passkeys are throttled like
passwords (`LoginThrottle`, key space `otp`). The browser's side of passkeys, and the
sign-in without password, are in `passkey_views`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    abort,
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
from idp.mfa import passkeys, service
from idp.mfa.forms import (
    ChallengeForm,
    EnrolForm,
    PasskeyAnswerForm,
    PasskeyRegisterForm,
    PasskeyRemoveForm,
    ProofForm,
)
from idp.mfa.models import Passkey
from idp.ops import metrics
from idp.outbox import service as outbox
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.redirects import public_url, safe_next
from idp.web.second_factor import (
    devices_remembered,
    forget_second_factor,
    pending_second_factor,
    remember_device,
    take_challenge,
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
TOTP_DISABLED = ("L'application d'authentification est désactivée ; vos clés d'accès "
                 "restent demandées à la connexion.")
PASSKEY_REFUSED = "La clé d'accès n'a pas été reconnue. Réessayez."
PASSKEY_NOT_KEPT = ("La clé d'accès n'a pas pu être enregistrée (délai dépassé, ou clé "
                    "déjà enregistrée). Réessayez.")
PASSKEY_ADDED = "La clé d'accès « {name} » est ajoutée."
PASSKEY_REMOVED = "La clé d'accès « {name} » est supprimée."
NO_PASSKEYS = "Les clés d'accès ne sont pas disponibles sur ce serveur."
RENEW = "renew"  # the prefix of the new recovery codes' form, beside the disabling one


def _passphrase() -> str:
    return current_app.config["IDP"]["keys"]["passphrase"]


def relying_party() -> passkeys.RelyingParty | None:
    """The WebAuthn relying party of the configured issuer (None: no passkeys here)."""
    return passkeys.relying_party(current_app.config["IDP"]["server"]["issuer"])


def user_handle_secret() -> str:
    return current_app.config["SECRET_KEY"]


def second_factor_purpose(account: Account) -> str:
    return f"second_factor:{account.id}"


def registration_purpose(account: Account) -> str:
    return f"register:{account.id}"


def refusal_message(refusal: Refusal) -> str:
    if refusal.reason == "locked":
        return LOCKED_OUT.format(minutes=max(1, refusal.seconds // 60))
    return SLOWED.format(seconds=refusal.seconds)


def commit() -> None:
    db.session.commit()
    outbox.send_after_commit()


# --- the login's second page ----------------------------------------------------------


def _passkey_proof(account: Account, answer: str) -> Passkey | None:
    rp = relying_party()
    challenge = take_challenge(second_factor_purpose(account))
    if rp is None or challenge is None:
        return None
    try:
        return passkeys.authenticate(rp, answer, challenge, user_handle_secret(), account)
    except passkeys.PasskeyRefused:
        return None


@bp.route("/connexion/code", methods=["GET", "POST"])
def challenge() -> Response | tuple[str, int]:
    """The code of the app, a recovery code, or a passkey (whose answer
    `passkey_views` prepares with the browser)."""
    pending = pending_second_factor()
    account = db.session.get(Account, pending.account_id) if pending else None
    if pending is None or account is None:
        return redirect(url_for("login.login"))
    if not service.has_second_factor(account):
        # An application requires eidas2 of someone who has no second factor yet.
        forget_second_factor()
        if not pending.step_up:
            return redirect(url_for("login.login"))
        return render_template("mfa/enrol_first.html", enrol_url=url_for(
            "mfa.manage", next=pending.next_url)), 200
    factor = service.enrolled(account)
    form, passkey_form = ChallengeForm(), PasskeyAnswerForm()
    with_passkey = request.method == "POST" and "credential" in request.form
    error, status = None, 400 if request.method == "POST" else 200
    if (passkey_form if with_passkey else form).validate_on_submit():
        guard, ip = login_throttle(OTP_SPACE), request.remote_addr or "unknown"
        actor = request_actor(account)
        refusal = guard.admit(account.identifier, ip)
        proof: service.Proof | Passkey | None = None
        if refusal is None:
            proof = _passkey_proof(account, passkey_form.credential.data) if with_passkey \
                else service.verify(account, form.code.data, _passphrase(), actor)
        if proof is None:
            if refusal is not None:
                error, status = refusal_message(refusal), 429
            else:
                if guard.failed(account.identifier, ip):
                    mail.queue_template(account.email, "second_factor_failures",
                                        name=account.full_name,
                                        reset_url=public_url("selfservice.forgot_password"))
                error, status = (PASSKEY_REFUSED if with_passkey else WRONG_CODE), 401
            record(actor, "login.failure", target=account,
                   reason=refusal.reason if refusal else "bad_second_factor")
            metrics.second_factor_check(refusal.reason if refusal else "bad_code")
            commit()
        else:
            guard.succeeded(account.identifier, ip)
            if isinstance(proof, Passkey):
                amr, used = ["pwd", *passkeys.amr(proof, passwordless=False)], "passkey"
            else:
                amr, used = ["pwd", "otp"], str(proof)
            start_login(account.id, amr=amr, acr=ACR_SECOND_FACTOR)
            account.last_login_at = datetime.now(UTC)
            record(actor, "login.success", target=account, second_factor=used)
            metrics.second_factor_check("success")
            stamp = service.device_stamp(factor) if factor else None
            commit()
            response = redirect(pending.next_url)
            if stamp and not with_passkey and form.remember.data and devices_remembered():
                remember_device(response, account.id, stamp)
            return response
    return render_template("mfa/challenge.html", form=form, error=error,
                           step_up=pending.step_up, totp=factor is not None,
                           passkey_form=passkey_form if relying_party() else None,
                           has_passkeys=service.has_passkeys(account),
                           offer_remember=devices_remembered() and not pending.step_up,
                           ), status


# --- Mon compte › Double authentification ---------------------------------------------


def _manage_page(account: Account, status: int = 200, *,
                 register_form: PasskeyRegisterForm | None = None,
                 remove_form: PasskeyRemoveForm | None = None,
                 enrol_form: EnrolForm | None = None, **context: object,
                 ) -> tuple[str, int]:
    """The page: the TOTP app (enrolment, or its state and how to disable it) and the
    passkeys (list, add, remove)."""
    disable_form = context.pop("form", None) or ProofForm(formdata=None)
    renew_form = context.pop("renew", None) or ProofForm(formdata=None, prefix=RENEW)
    keys = service.passkeys_of(account)
    remove_form = remove_form or PasskeyRemoveForm(formdata=None)
    remove_form.passkey.choices = [(p.id, p.name) for p in keys]
    shared = {"passkeys": keys, "remove_form": remove_form,
              "register_form": (register_form or PasskeyRegisterForm(formdata=None))
              if relying_party() else None, **context}
    factor = service.enrolled(account)
    if factor is not None:
        return render_template(
            "mfa/manage.html", factor=factor, form=disable_form, renew=renew_form,
            remaining=service.remaining_recovery_codes(account), **shared), status
    form = enrol_form or EnrolForm(formdata=None)
    secret = service.pending_secret(account, _passphrase())
    db.session.commit()  # the enrolment under way keeps its secret when the page reloads
    uri = service.provisioning_uri(account, secret)
    return render_template("mfa/enrol.html", form=form, qr_code=service.qr_code_svg(uri),
                           secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                           **shared), status


@bp.route("/compte/double-authentification", methods=["GET", "POST"])
@login_required
def manage() -> Response | tuple[str, int]:
    """The state of the second factor; without a TOTP app, its enrolment (QR code, first
    code), which ends on the recovery codes, shown this once."""
    account = signed_in_account()
    if service.enrolled(account) is not None or request.method == "GET":
        form, register_form = EnrolForm(formdata=None), PasskeyRegisterForm(formdata=None)
        form.next.data = register_form.next.data = safe_next(request.args.get("next"))
        return _manage_page(account, enrol_form=form, register_form=register_form)
    form = EnrolForm()
    if not form.validate_on_submit():
        return _manage_page(account, 400, enrol_form=form)
    codes = service.confirm(account, form.code.data, _passphrase(), request_actor(account))
    if codes is None:
        return _manage_page(account, 400, enrol_form=form, error=WRONG_CODE)
    commit()
    return render_template("mfa/recovery_codes.html", codes=codes,
                           next_url=safe_next(form.next.data)), 200


def _proof_refused(account: Account, proof: str) -> tuple[str, int] | None:
    """The password or a code, asked before a factor is removed (someone at an unlocked
    screen must not remove it), counted like a login attempt; the message and status
    of a refusal, or None."""
    guard, ip = login_throttle(), request.remote_addr or "unknown"
    refusal = guard.admit(account.identifier, ip)
    if refusal is not None:
        return refusal_message(refusal), 429
    if verify_password(account.password_hash, proof) or service.verify(
            account, proof, _passphrase(), request_actor(account)):
        guard.succeeded(account.identifier, ip)
        return None
    guard.failed(account.identifier, ip)
    return WRONG_PROOF, 401


@bp.post("/compte/double-authentification/desactiver")
@login_required
def disable() -> Response | tuple[str, int]:
    """Disable the TOTP app (its recovery codes with it); passkeys stay."""
    account = signed_in_account()
    if service.enrolled(account) is None:
        return redirect(url_for("mfa.manage"))
    form = ProofForm()
    if not form.validate_on_submit():
        return _manage_page(account, 400, form=form)
    refused = _proof_refused(account, form.proof.data)
    if refused is not None:
        return _manage_page(account, refused[1], form=form, error=refused[0])
    service.remove(account, request_actor(account))
    commit()
    flash(TOTP_DISABLED if service.has_second_factor(account) else DISABLED, "success")
    return redirect(url_for("selfservice.home"))


@bp.post("/compte/double-authentification/codes-de-secours")
@login_required
def renew_recovery_codes() -> Response | tuple[str, int]:
    """Ten new recovery codes (lost, used up, seen by someone), the old ones void, once
    the password or a code is given; shown this once, like the first ones."""
    account = signed_in_account()
    if service.enrolled(account) is None:
        return redirect(url_for("mfa.manage"))
    form = ProofForm(prefix=RENEW)
    if not form.validate_on_submit():
        return _manage_page(account, 400, renew=form)
    refused = _proof_refused(account, form.proof.data)
    if refused is not None:
        return _manage_page(account, refused[1], renew=form, renew_error=refused[0])
    codes = service.renew_recovery_codes(account, request_actor(account))
    commit()
    return render_template("mfa/recovery_codes.html", codes=codes, renewed=True,
                           next_url=None), 200


@bp.post("/compte/double-authentification/cles-d-acces")
@login_required
def add_passkey() -> Response | tuple[str, int]:
    """Keep the passkey the browser made (`passkey_views.registration_options`)."""
    account = signed_in_account()
    rp = relying_party()
    if rp is None:
        abort(404, NO_PASSKEYS)
    form = PasskeyRegisterForm()
    if not form.validate_on_submit():
        take_challenge(registration_purpose(account))  # spent: a new ceremony is needed
        return _manage_page(account, 400, register_form=form)
    challenge = take_challenge(registration_purpose(account))
    try:
        if challenge is None:
            raise passkeys.PasskeyRefused("no_challenge")
        passkeys.register(rp, account, form.name.data.strip(), form.credential.data,
                          challenge, request_actor(account))
    except passkeys.PasskeyRefused:
        return _manage_page(account, 400, register_form=form, passkey_error=PASSKEY_NOT_KEPT)
    commit()
    flash(PASSKEY_ADDED.format(name=form.name.data.strip()), "success")
    # On the way to an application that asked eidas2: back to it, which asks the passkey.
    return redirect(safe_next(form.next.data) or url_for("mfa.manage"))


@bp.post("/compte/double-authentification/cles-d-acces/supprimer")
@login_required
def remove_passkey() -> Response | tuple[str, int]:
    account = signed_in_account()
    form = PasskeyRemoveForm()
    form.passkey.choices = [(p.id, p.name) for p in service.passkeys_of(account)]
    if not form.validate_on_submit():
        return _manage_page(account, 400, remove_form=form)
    refused = _proof_refused(account, form.proof.data)
    if refused is not None:
        return _manage_page(account, refused[1], remove_form=form, remove_error=refused[0])
    name = dict(form.passkey.choices)[form.passkey.data]
    passkeys.remove(account, form.passkey.data, request_actor(account))
    commit()
    flash(PASSKEY_REMOVED.format(name=name), "success")
    return redirect(url_for("mfa.manage"))
