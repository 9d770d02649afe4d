"""The kit's pages and endpoints, mounted under PLAGE_URL_PREFIX (default /plage).

The wording comes from the guides (SAGA Directeurs, TdB ESMS). Templates are under
`plage_rp/`; an application restyles them by providing `plage_rp/base.html` (or any
page) in its own template folder.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from idp.rp import flow
from idp.rp.errors import InvalidToken, LoginFailed, PairingConflict, ProviderUnavailable
from idp.rp.identity import Identity
from idp.rp.pairing import pair
from idp.rp.redirects import local_path
from idp.rp.sessions import end_sessions
from idp.rp.state import kit
from idp.rp.tokens import validate_logout_token

bp = Blueprint("plage_rp", __name__, template_folder="templates")

NO_VALID_RIGHT = ("Vous n'avez aucun droit valide défini au niveau de votre compte "
                  "utilisateur. Merci de vous rapprocher de votre administrateur.")
FORM_EXPIRED = "Le formulaire a expiré : rechargez la page et recommencez."

Page = tuple[str, int]


def render_page(template: str, status: int = 200, **context: Any) -> Page:
    return render_template(f"plage_rp/{template}", **context), status


def expired_page() -> Page:
    return render_page("expired.html", 401, login_url=local_path(flow.here()))


def _require_csrf() -> None:
    if not flow.csrf_valid():
        abort(400, FORM_EXPIRED)


# --- login ----------------------------------------------------------------------------


@bp.get("/connexion")
def login() -> Response | Page:
    try:
        url = flow.begin_login(request.args.get("next"), request.args.get("prompt"))
    except ProviderUnavailable as exc:
        current_app.logger.error("PLAGE unreachable: %s", exc)
        return render_page("error.html", 503, reason="provider_unavailable")
    return redirect(url, code=303)


@bp.get("/callback")
def callback() -> Response | Page:
    try:
        flow.finish_login(request.args.to_dict(flat=True))
    except LoginFailed as failed:
        current_app.logger.info("PLAGE login failed: %s", failed)
        if failed.error == "access_denied":
            return render_page("no_valid_right.html", 403, message=NO_VALID_RIGHT,
                               account_url=kit().account_url)
        if failed.error == "invalid_state":
            return render_page("error.html", 400, reason="invalid_state")
        return render_page("error.html", 502 if failed.error == "provider_unavailable"
                           else 400, reason=failed.error)
    except ProviderUnavailable as exc:
        current_app.logger.error("PLAGE unreachable: %s", exc)
        return render_page("error.html", 503, reason="provider_unavailable")
    return redirect(flow.next_step(), code=303)


# --- pairing and account choice -------------------------------------------------------


@bp.route("/association", methods=["GET", "POST"])
def pairing() -> Response | Page:
    """"Il s'agit de votre première connexion..." then Valider (SAGA guide)."""
    state, login = kit(), flow.signed_in()
    if login is None:
        return expired_page()
    if not state.pairing_enabled or flow.paired_local_accounts(login["sub"]):
        return redirect(flow.next_step(), code=303)
    identity = Identity(login["claims"])
    if request.method == "POST":
        _require_csrf()
        assert state.hooks.find_accounts is not None
        accounts = list(state.hooks.find_accounts(identity))
        reason = "no local account found"
        if accounts:
            try:
                pair(state.engine, identity.sub, [a.key for a in accounts])
                return redirect(flow.next_step(), code=303)
            except PairingConflict as exc:
                reason = str(exc)
        current_app.logger.warning("PLAGE pairing impossible for %s: %s", identity.sub,
                                   reason)
        return render_page("pairing_impossible.html", 409, identity=identity)
    return render_page("pairing.html", identity=identity)


@bp.route("/choix-du-compte", methods=["GET", "POST"])
def choose_account() -> Response | Page:
    """"Choisissez le compte sur lequel vous souhaitez vous connecter" (SAGA guide)."""
    login = flow.signed_in()
    if login is None:
        return expired_page()
    accounts = flow.paired_local_accounts(login["sub"]) if kit().pairing_enabled else []
    if not accounts:
        return redirect(flow.next_step(), code=303)
    if request.method == "POST":
        _require_csrf()
        chosen = next((a for a in accounts if a.key == request.form.get("account")), None)
        if chosen is not None:
            flow.select_account(chosen)
            return redirect(flow.next_step(), code=303)
    return render_page("choose_account.html", identity=Identity(login["claims"]),
                       accounts=accounts, current=login.get("local_account"))


# --- logout ---------------------------------------------------------------------------


@bp.post("/deconnexion")
def logout() -> Response:
    _require_csrf()
    return redirect(flow.end_login(), code=303)


@bp.get("/deconnecte")
def logged_out() -> Page:
    return render_page("logged_out.html")


@bp.post("/backchannel-logout")
def backchannel_logout() -> Response:
    """OIDC Back-Channel Logout: the provider ends the sessions of one of its sessions."""
    state = kit()
    try:
        claims = validate_logout_token(request.form.get("logout_token", ""), state.provider,
                                       state.client_id, leeway=state.setting("LEEWAY"),
                                       algorithms=state.setting("ALGORITHMS"))
    except InvalidToken as exc:
        current_app.logger.warning("PLAGE logout token refused: %s", exc)
        return _no_store(jsonify(error="invalid_request", error_description=str(exc)), 400)
    except ProviderUnavailable as exc:
        return _no_store(jsonify(error="temporarily_unavailable",
                                 error_description=str(exc)), 503)
    ended = end_sessions(state.engine, sid=claims.get("sid"), sub=claims.get("sub"))
    current_app.logger.info("PLAGE back-channel logout: %d session(s) ended", ended)
    return _no_store(Response(status=200), 200)


def _no_store(response: Response, status: int) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
