"""Mon compte: the account holder's own pages."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from idp.consent import service as consent
from idp.directory import rules
from idp.extensions import db
from idp.oidc import logout
from idp.outbox import service as outbox
from idp.web.access import current_account, login_required, request_actor
from idp.web.forms import Form
from idp.web.navigation import ACTIVE_PROFILE
from idp.web.redirects import safe_next
from idp.web.session import renew_session_id

bp = Blueprint("selfservice", __name__, url_prefix="/compte")


@bp.get("/applications")
@login_required
def applications() -> str:
    """Mes applications: the consents given, each with a button to withdraw it."""
    account = current_account()
    assert account is not None
    return render_template("selfservice/applications.html", applications=[
        (given, client, consent.describe_scopes(given.scopes))
        for given, client in consent.applications_of(account.id)
    ])


@bp.post("/applications/<client_id>/retirer")
@login_required
def withdraw_consent(client_id: str) -> Response:
    """Retirer mon accord: the application loses access (CSRF checked by CSRFProtect)."""
    account = current_account()
    assert account is not None
    names = {client.client_id: client.name for _, client in consent.applications_of(account.id)}
    actor = request_actor(account)
    if client_id in names and logout.withdraw_consent(account, client_id, actor):
        db.session.commit()
        outbox.send_after_commit()
        flash(f"Votre accord a été retiré : {names[client_id]} n'a plus accès à vos "
              "informations. L'application vous le redemandera à votre prochaine connexion.",
              "success")
    else:
        flash("Aucun accord n'est enregistré pour cette application.", "error")
    return redirect(url_for("selfservice.applications"))


@bp.post("/profil-actif")
@login_required
def switch_profile() -> Any:
    """The profile menu: which profile the person acts with on PLAGE's own pages."""
    account = current_account()
    assert account is not None
    form = Form()
    chosen = request.form.get("profile", type=int)
    usable = {p.id: p for p in account.profiles if rules.is_usable(p)}
    if not form.validate_on_submit() or chosen not in usable:
        flash("Ce profil ne peut pas être choisi.", "error")
    else:
        session[ACTIVE_PROFILE] = chosen
        renew_session_id()  # other rights: an id seen before the switch opens nothing
        flash(f"Vous agissez désormais avec le profil « {usable[chosen].label} ».", "success")
    return redirect(safe_next(request.form.get("next")) or url_for("selfservice.home"))


# The tabs of Mon compte (profiles, personal information, identifier, merge, history),
# the pages that work by mail (lost identifier, forgotten password, mail check) and the
# password change are in their own modules, on this blueprint.
from idp.selfservice import (  # noqa: E402, F401
    by_mail,
    history,
    merge,
    passwords,
    personal,
    profiles,
)
