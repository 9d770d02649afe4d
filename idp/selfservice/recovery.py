"""The answers of « Identifiant perdu ? » and « Mot de passe oublié ? », run in the
background (`idp.web.deferred`): the lookup, then the mail if one is due. A request that
matched counts against its address or identifier; past the limit nothing is sent, and
nobody can tell."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from idp.core.audit import Actor, record
from idp.directory import accounts as directory_accounts
from idp.directory.enums import AccountState
from idp.directory.models import Account
from idp.directory.passwords import password_stamp
from idp.extensions import db
from idp.mail import service as mail
from idp.web import deferred
from idp.web.links import MailLinks
from idp.web.throttle import anonymous_requests

REMINDER = "identifier_reminder"
RESET = "reset_link"


def reset_links() -> MailLinks:
    return MailLinks(current_app.extensions["idp.store"], "password-reset")


@deferred.handler(REMINDER)
def remind_identifier(actor: Actor, typed: dict[str, Any]) -> None:
    address = typed["address"]
    accounts = db.session.scalars(directory_accounts.with_address(address)).all()
    if not accounts or not anonymous_requests("email").allow(address.lower()):
        return
    mail.queue_template(accounts[0].email, "lost_identifier", accounts=accounts,
                        name=accounts[0].full_name if len(accounts) == 1 else None,
                        login_url=typed["login_url"])
    for account in accounts:
        record(actor, "account.identifier_reminder", target=account)


@deferred.handler(RESET)
def send_reset_link(actor: Actor, typed: dict[str, Any]) -> None:
    identifier, address = typed["identifier"], typed["address"]
    account = db.session.scalar(select(Account).where(Account.identifier == identifier))
    if (account is None or account.state != AccountState.ACTIVE
            or account.email.lower() != address.lower()
            or not anonymous_requests("identifier").allow(identifier)):
        return
    ttl = current_app.config["IDP"]["security"]["password_reset_ttl"]
    stamp = password_stamp(account.password_hash)
    token = reset_links().issue({"account_id": account.id, "stamp": stamp}, ttl)
    mail.queue_template(account.email, "password_reset", name=account.full_name,
                        account=account, reset_url=f"{typed['reset_url']}#{token}",
                        code=token, minutes=ttl // 60)
    record(actor, "account.password_reset_request", target=account)
