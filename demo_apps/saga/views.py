"""SAGA's pages: home, the personal space, the administrator's pairings page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from demo_apps.base import ENGINE_KEY, database
from demo_apps.saga.accounts import get_account
from idp.rp import (
    csrf_valid,
    current_identity,
    current_local_account,
    list_pairings,
    login_required,
    unpair,
)

bp = Blueprint("saga", __name__)


@bp.get("/")
def home() -> Response | str:
    if current_identity() is not None:
        return redirect(url_for("saga.space"))
    return render_template("saga/home.html")


@bp.get("/espace")
@login_required
def space() -> str:
    """"Bienvenue Prénom NOM / Votre espace" with the account's arrêtés (SAGA guide)."""
    local = current_local_account()
    with database() as session:
        account = get_account(session, local.key) if local else None
        arretes = list(account.arretes) if account else []
    return render_template("saga/space.html", account=local, arretes=arretes)


def _require_admin() -> None:
    identity = current_identity()
    if identity is None or identity.sub not in current_app.config["DEMO"]["admins"]:
        abort(403, "Seuls les administrateurs de SAGA Directeurs ont accès aux appairages.")


@bp.route("/admin/appairages", methods=["GET", "POST"])
@login_required
def pairings() -> Response | str:
    """The application administrator unpairs an identifier (asked to pair again)."""
    _require_admin()
    engine = current_app.extensions[ENGINE_KEY]
    if request.method == "POST":
        if not csrf_valid():
            abort(400, "Le formulaire a expiré : rechargez la page et recommencez.")
        sub, key = request.form.get("sub", ""), request.form.get("account") or None
        if unpair(engine, sub, key):
            flash(f"L'appairage de l'identifiant PLAGE {sub} a été supprimé : il devra "
                  "valider un nouvel appairage à sa prochaine connexion.", "success")
        else:
            flash("Cet appairage n'existe plus.", "error")
        return redirect(url_for("saga.pairings"), code=303)
    with database() as session:
        rows = [(p, get_account(session, p.local_account)) for p in list_pairings(engine)]
    return render_template("saga/pairings.html", rows=rows)
