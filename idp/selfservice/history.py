"""Mon compte › Mon identifiant and Mon historique: the identifier and the state of the
account (the SAGA guide's « je contrôle que mon identifiant est actif »), and the audit
records about the account, newest first, a page at a time."""

from __future__ import annotations

from flask import render_template

from idp.core.audit import ACTION_LABELS
from idp.core.clock import PARIS
from idp.directory import accounts, rules
from idp.directory.enums import AccountState
from idp.selfservice.profiles import PROFILE_STATES
from idp.selfservice.views import bp
from idp.web import paging
from idp.web.access import login_required, signed_in_account

PAGE_SIZE = 20


@bp.get("/identifiant")
@login_required
def identifier() -> str:
    account = signed_in_account()
    return render_template("selfservice/identifier.html", account=account,
                           active=account.state == AccountState.ACTIVE,
                           usable=[p for p in account.profiles if rules.is_usable(p)],
                           states=PROFILE_STATES)


@bp.get("/historique")
@login_required
def history() -> str:
    account = signed_in_account()
    found, total = accounts.history_of(account, paging.cursor(), PAGE_SIZE)
    return render_template("selfservice/history.html", account=account, found=found,
                           total=total, actions=ACTION_LABELS, paris=PARIS)
