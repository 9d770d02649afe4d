"""Mon compte › Mes profils / habilitations: the guide's table of the person's profiles
(with its filter row), the profile he acts with marked, the roles of the profile he
selects, and each profile's own label, email and phone, which he edits himself.

Only the signed-in person's own profiles are ever looked up: another account's profile
number in a URL answers 404, as an unknown one does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from idp.core.errors import RuleViolation
from idp.directory import accounts, rules
from idp.directory.enums import ProfileState
from idp.directory.models import Account, Profile
from idp.extensions import db
from idp.selfservice.forms import ProfileContactForm
from idp.selfservice.views import bp
from idp.web.access import login_required, request_actor, signed_in_account
from idp.web.navigation import active_profile

PROFILE_STATES = {
    ProfileState.ACTIVE: "Actif",
    ProfileState.PENDING: "En attente de création",
    ProfileState.INACTIVE: "Inactif / Refusé",
}
SAVED = "Le profil « {label} » a été enregistré."

# The filter row: each text column is matched on a part of its text, case ignored.
_COLUMNS: dict[str, Callable[[Profile], str]] = {
    "libelle": lambda p: p.label,
    "type": lambda p: p.entity.type.value,
    "entite": lambda p: p.entity.name,
    "courriel": lambda p: p.effective_email,
    "finess": lambda p: p.entity.finess or p.entity.code,
}


@dataclass(frozen=True)
class ProfileFilter:
    state: ProfileState | None
    texts: dict[str, str]

    @classmethod
    def from_query(cls, args: MultiDict[str, str]) -> ProfileFilter:
        states = {s.value: s for s in ProfileState}
        texts = {name: args.get(name, "").strip()[:100] for name in _COLUMNS}
        return cls(states.get(args.get("etat", "")), {k: v for k, v in texts.items() if v})

    def keeps(self, profile: Profile) -> bool:
        if self.state is not None and profile.state != self.state:
            return False
        return all(text.casefold() in _COLUMNS[name](profile).casefold()
                   for name, text in self.texts.items())


def own_profile(account: Account, profile_id: int) -> Profile:
    """One of the signed-in person's profiles, or 404 (whoever else's it may be)."""
    profile = next((p for p in account.profiles if p.id == profile_id), None)
    if profile is None:
        abort(404)
    return profile


@bp.get("/")
@login_required
def home() -> str:
    account = signed_in_account()
    wanted = ProfileFilter.from_query(request.args)
    active = active_profile(account)
    selected_id = request.args.get("profil", type=int)
    selected = (own_profile(account, selected_id) if selected_id is not None else active)
    return render_template(
        "selfservice/home.html", account=account, rules=rules, states=PROFILE_STATES,
        profiles=[p for p in account.profiles if wanted.keeps(p)], wanted=wanted,
        active=active, selected=selected,
    )


@bp.route("/profils/<int:profile_id>", methods=["GET", "POST"])
@login_required
def edit_profile(profile_id: int) -> Response | tuple[str, int]:
    """« Modifier le profil »: its own label, address and phone (empty: the account's)."""
    account = signed_in_account()
    profile = own_profile(account, profile_id)
    if request.method == "GET":
        return _edit_page(ProfileContactForm(formdata=None, obj=profile), profile, 200)
    form, error = ProfileContactForm(), None
    if form.validate_on_submit():
        try:
            accounts.update_profile_contact(profile, label=form.label.data,
                                            email=form.email.data, phone=form.phone.data,
                                            actor=request_actor(account))
        except RuleViolation as exc:
            error = str(exc)
        else:
            db.session.commit()
            flash(SAVED.format(label=profile.label), "success")
            return redirect(url_for("selfservice.home", profil=profile.id))
    return _edit_page(form, profile, 400, error)


def _edit_page(form: ProfileContactForm, profile: Profile, status: int,
               error: str | None = None) -> tuple[str, int]:
    return render_template("selfservice/edit_profile.html", form=form, profile=profile,
                           error=error), status
