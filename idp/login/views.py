"""The login page ("Identifiant Plage" / "Mot de passe" / "Se connecter").

Reached directly, or for an authorization request under way: then the interaction's
`login` prompt says for which application, which identifier to suggest, and whether the
person signed in must sign in again; the page hands the request back once signed in.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.core.audit import record
from idp.directory import services
from idp.extensions import db
from idp.login.forms import LoginForm
from idp.mfa import service as second_factor
from idp.ops import metrics
from idp.outbox import service as outbox
from idp.web import interactions
from idp.web.access import active_login, request_actor
from idp.web.interactions import LOGIN, STEP_UP, Prompt
from idp.web.redirects import safe_next
from idp.web.second_factor import await_second_factor, is_remembered_device
from idp.web.session import start_login
from idp.web.throttle import Refusal, login_throttle, warn_holder

bp = Blueprint("login", __name__)

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
LOCKED_OUT = ("Trop de tentatives de connexion infructueuses. Pour votre sécurité, "
              "réessayez dans {minutes} minutes ou utilisez « Mot de passe oublié ? ».")
SLOWED = ("Trop de tentatives de connexion en peu de temps. Pour votre sécurité, "
          "patientez {seconds} secondes avant de réessayer.")


def _refusal_message(refusal: Refusal) -> str:
    if refusal.reason == "locked":
        return LOCKED_OUT.format(minutes=max(1, refusal.seconds // 60))
    return SLOWED.format(seconds=refusal.seconds)


def _login_prompt(uid: str | None) -> Prompt | None:
    """The `login` prompt of the authorization request `uid`, if it still asks one."""
    interaction = interactions.load(uid) if uid else None
    prompt = interaction.prompt if interaction else None
    return prompt if prompt is not None and prompt.name == LOGIN else None


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    uid = form.interaction.data if request.method == "POST" else request.args.get("interaction")
    prompt = _login_prompt(uid)
    if request.method == "GET":
        form.interaction.data = uid
        form.next.data = interactions.resume_url(uid) if uid else safe_next(
            request.args.get("next"))
        if prompt and prompt.details.get("login_hint"):
            form.identifier.data = prompt.details["login_hint"][:32]
        signed_in = active_login()
        if signed_in and prompt is not None and prompt.reasons == [STEP_UP]:
            # The right person, at too low a level: only the second factor is asked.
            await_second_factor(signed_in.account_id, form.next.data, step_up=True)
            return redirect(url_for("mfa.challenge"))
        refused = prompt is not None and prompt.details.get("session_refused")
        if signed_in and not refused:
            return redirect(form.next.data or url_for("selfservice.home"))
    error, status = None, 200
    if form.validate_on_submit():
        identifier, ip = form.identifier.data.strip(), request.remote_addr or "unknown"
        guard = login_throttle()
        refusal = guard.admit(identifier, ip)
        account = None if refusal else services.authenticate(identifier, form.password.data)
        if account is None:
            if refusal is not None:
                error, status = _refusal_message(refusal), 429
            else:
                if guard.failed(identifier, ip):
                    warn_holder(identifier)
                error, status = BAD_CREDENTIALS, 401
            record(request_actor(None, anonymous=f"anonymous:{identifier[:32]}"),
                   "login.failure", reason=refusal.reason if refusal else "bad_credentials")
            metrics.login(refusal.reason if refusal else "bad_credentials")
            db.session.commit()
            outbox.send_after_commit()
        else:
            guard.succeeded(identifier, ip)
            next_url = safe_next(form.next.data) or url_for("selfservice.home")
            factor = second_factor.enrolled(account)
            remembered = factor is not None and is_remembered_device(
                account.id, second_factor.device_stamp(factor))
            if second_factor.has_second_factor(account) and not remembered:
                await_second_factor(account.id, next_url)
                metrics.login("second_factor_required")
                return redirect(url_for("mfa.challenge"))
            start_login(account.id, amr=["pwd"])
            account.last_login_at = datetime.now(UTC)
            record(request_actor(account), "login.success", target=account)
            metrics.login("success")
            db.session.commit()
            return redirect(next_url)
    elif request.method == "POST":
        status = 400
    return render_template("login/login.html", form=form, error=error,
                           client_name=prompt.details["client_name"] if prompt else None
                           ), status
