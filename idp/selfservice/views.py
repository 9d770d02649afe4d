"""Mon compte: the account holder's own pages."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from idp.directory import rules
from idp.directory.models import Account
from idp.extensions import db
from idp.login.session import current_login

bp = Blueprint("selfservice", __name__, url_prefix="/compte")


def current_account() -> Account | None:
    state = current_login()
    return db.session.get(Account, state.account_id) if state else None


def login_required(view: Any) -> Any:
    """Provider pages need a signed-in person; others are sent to the login page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_account() is None:
            return redirect(url_for("login.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


@bp.get("/")
@login_required
def home() -> str:
    account = current_account()
    assert account is not None
    return render_template("selfservice/home.html", account=account, rules=rules)


@bp.get("/identifiant-perdu")
def lost_identifier() -> str:
    return render_template("selfservice/lost_identifier.html")


@bp.get("/mot-de-passe-oublie")
def forgot_password() -> str:
    return render_template("selfservice/forgot_password.html")
