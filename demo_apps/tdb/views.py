"""The TdB's pages: the rights of the chosen profile, the structures, entry, validation.

Every decision comes from `rights` with the token's `entity` and `roles` claims; the
page only shows the forms the profile may use, and each POST checks again.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from demo_apps.base import database
from demo_apps.tdb import campaign
from demo_apps.tdb.rights import (
    ALLOWED_ENTITY_TYPES,
    DOMAIN,
    Viewer,
    can_consult,
    can_enter,
    can_validate,
)
from idp.rp import csrf_valid, current_identity, require

bp = Blueprint("tdb", __name__)
tdb_access = require(domain=DOMAIN, entity_types=ALLOWED_ENTITY_TYPES)
CANNOT_CONSULT = "Votre profil ne permet pas de consulter les données de cette structure."
CANNOT_ENTER = "Votre profil ne permet pas de saisir cette donnée."
CANNOT_VALIDATE = "Votre profil ne permet pas de valider cette donnée."


def viewer() -> Viewer:
    identity = current_identity()
    found = Viewer.of(identity) if identity else None
    if found is None:
        abort(403)
    return found


@bp.get("/")
def home() -> Response | str:
    if current_identity() is not None:
        return redirect(url_for("tdb.dashboard"))
    return render_template("tdb/home.html")


@bp.get("/tableau")
@tdb_access
def dashboard() -> str:
    me = viewer()
    with database() as session:
        visible = [s for s in campaign.structures(session) if can_consult(me, s)]
        progress = {s.finess: campaign.values_of(session, s.finess) for s in visible}
    return render_template("tdb/dashboard.html", viewer=me, structures=visible,
                           progress=progress, indicators=campaign.INDICATORS)


@bp.get("/structures/<finess>")
@tdb_access
def structure(finess: str) -> str:
    me = viewer()
    with database() as session:
        found = campaign.structure(session, finess) or abort(404)
        if not can_consult(me, found):
            abort(403, CANNOT_CONSULT)
        values = campaign.values_of(session, finess)
    lines = [(indicator, values.get(indicator.code), can_enter(me, found, indicator),
              can_validate(me, found, values[indicator.code].entered_by)
              if indicator.code in values and not values[indicator.code].validated else False)
             for indicator in campaign.INDICATORS if indicator.kind == found.kind]
    return render_template("tdb/structure.html", viewer=me, structure=found, lines=lines)


@bp.post("/structures/<finess>/<indicator>")
@tdb_access
def update(finess: str, indicator: str) -> Response:
    """Enter a value ("saisir") or validate it ("valider"), when the rights allow."""
    if not csrf_valid():
        abort(400, "Le formulaire a expiré : rechargez la page et recommencez.")
    me = viewer()
    wanted = campaign.INDICATOR_BY_CODE.get(indicator) or abort(404)
    with database() as session:
        found = campaign.structure(session, finess) or abort(404)
        if not can_consult(me, found):
            abort(403, CANNOT_CONSULT)
        if request.form.get("action") == "valider":
            value = campaign.values_of(session, finess).get(indicator) or abort(404)
            if not can_validate(me, found, value.entered_by):
                abort(403, CANNOT_VALIDATE)
            campaign.validate(session, value)
            flash(f"« {wanted.label} » validé.", "success")
        else:
            if not can_enter(me, found, wanted):
                abort(403, CANNOT_ENTER)
            text = request.form.get("value", "").strip()[:255]
            if not text:
                flash("Saisissez une valeur avant d'enregistrer.", "error")
            else:
                campaign.enter(session, finess, indicator, text, me.entered_by)
                flash(f"« {wanted.label} » enregistré.", "success")
    return redirect(url_for("tdb.structure", finess=finess), code=303)
