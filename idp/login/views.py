"""The login page ("Identifiant Plage" / "Mot de passe" / "Se connecter")."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from idp.core.audit import Actor, record
from idp.directory import services
from idp.extensions import db
from idp.login.forms import LoginForm
from idp.login.throttle import LoginThrottle
from idp.oidc.authorize import client_name_for
from idp.web.session import current_login, start_login

bp = Blueprint("login", __name__)

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
LOCKED_OUT = ("Trop de tentatives de connexion infructueuses. Pour votre sécurité, "
              "réessayez dans {minutes} minutes ou utilisez « Mot de passe oublié ? ».")


def safe_next(target: str | None) -> str | None:
    """Only local paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def throttle() -> LoginThrottle:
    security = current_app.config["IDP"]["security"]
    return LoginThrottle(
        store=current_app.extensions["idp.store"],
        max_failures=security["login_max_failures"],
        max_failures_per_ip=security["login_max_failures_per_ip"],
        lockout_seconds=security["login_lockout_seconds"],
    )


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        if request.args.get("login_hint"):
            form.identifier.data = request.args["login_hint"][:32]
        if current_login() and not request.args.get("force"):
            return redirect(form.next.data or url_for("selfservice.home"))
    error, status = None, 200
    if form.validate_on_submit():
        identifier, ip = form.identifier.data.strip(), request.remote_addr or "unknown"
        guard = throttle()
        account = None
        if guard.locked(identifier, ip):
            error, status = LOCKED_OUT.format(minutes=guard.lockout_seconds // 60), 429
        else:
            account = services.authenticate(identifier, form.password.data)
        if account is None:
            if status != 429:
                guard.failed(identifier, ip)
                error, status = BAD_CREDENTIALS, 401
            record(Actor(label=f"anonymous:{identifier[:32]}", ip=ip), "login.failure",
                   reason="locked" if status == 429 else "bad_credentials")
            db.session.commit()
        else:
            guard.succeeded(identifier)
            start_login(account.id, amr=["pwd"])
            account.last_login_at = datetime.now(UTC)
            record(Actor(label=account.identifier, account_id=account.id, ip=ip),
                   "login.success", target=account)
            db.session.commit()
            return redirect(safe_next(form.next.data) or url_for("selfservice.home"))
    elif request.method == "POST":
        status = 400
    return render_template("login/login.html", form=form, error=error,
                           client_name=client_name_for(form.next.data)), status
