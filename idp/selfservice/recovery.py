"""The recovery requests, answered in the background: « Identifiant perdu ? » and
« Mot de passe oublié ? ».

The pages only queue what was typed, in the same way whatever it was, and answer at
once: a request for a known address and one for a made-up address cost the page the
same work, so neither the answer nor its timing tells whether an account exists. This
outbox channel then looks the account up and, when it matches, queues the mail (with the
reset link) through the mail channel. A request that matched counts against its address
or identifier; past the limit nothing is sent, and nobody can tell.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from idp.core.audit import Actor, record
from idp.directory.enums import AccountState
from idp.directory.models import Account
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import service as outbox
from idp.outbox.channels import Channel, Item
from idp.web.links import MailLinks
from idp.web.throttle import Counter

CHANNEL = "recovery"
REMINDER = "identifier_reminder"
RESET = "reset_link"


def queue(kind: str, ip: str | None, **typed: str) -> None:
    """Queue a recovery request of `kind` as typed; the caller commits, then calls
    `outbox.send_after_commit()`. `typed` holds the page's own URLs too: the channel
    runs outside any request."""
    outbox.put(CHANNEL, recipient="", subject=kind, payload={"ip": ip, **typed})


def _security() -> dict[str, Any]:
    return current_app.config["IDP"]["security"]


def allowed(subject: str) -> bool:
    """Count one mail against `subject` (an address, an identifier, an account)."""
    security = _security()
    return Counter(current_app.extensions["idp.store"], "mail-request",
                   security["recovery_max_requests"],
                   security["recovery_window_seconds"]).allow(subject)


def reset_links() -> MailLinks:
    return MailLinks(current_app.extensions["idp.store"], "password-reset")


def password_stamp(account: Account) -> str:
    """Changes with the password: a link asked before a password change is void."""
    return hashlib.sha256((account.password_hash or "").encode()).hexdigest()[:16]


def _remind_identifier(actor: Actor, address: str, login_url: str) -> None:
    accounts = db.session.scalars(
        select(Account)
        .where(func.lower(Account.email) == address.lower(),
               Account.state == AccountState.ACTIVE)
        .order_by(Account.identifier)
    ).all()
    if not accounts or not allowed(f"email:{address.lower()}"):
        return
    mail.queue_template(accounts[0].email, "lost_identifier", accounts=accounts,
                        name=accounts[0].full_name if len(accounts) == 1 else None,
                        login_url=login_url)
    for account in accounts:
        record(actor, "account.identifier_reminder", target=account)


def _send_reset(actor: Actor, identifier: str, address: str, reset_url: str) -> None:
    account = db.session.scalar(select(Account).where(Account.identifier == identifier))
    if (account is None or account.state != AccountState.ACTIVE
            or account.email.lower() != address.lower()
            or not allowed(f"identifier:{identifier}")):
        return
    ttl = _security()["password_reset_ttl"]
    token = reset_links().issue({"account_id": account.id, "stamp": password_stamp(account)},
                                ttl)
    mail.queue_template(account.email, "password_reset", name=account.full_name,
                        account=account, reset_url=f"{reset_url}#{token}", code=token,
                        minutes=ttl // 60)
    record(actor, "account.password_reset_request", target=account)


class RecoveryChannel(Channel):
    """Answers the recovery requests: the lookup, then the mail if one is due."""

    name = CHANNEL

    def send(self, item: Item) -> None:
        typed = item.payload
        actor = Actor(label="anonymous", ip=typed.get("ip"))
        if item.subject == REMINDER:
            _remind_identifier(actor, typed["address"], typed["login_url"])
        elif item.subject == RESET:
            _send_reset(actor, typed["identifier"], typed["address"], typed["reset_url"])
        else:
            raise ValueError(f"unknown recovery request {item.subject!r}")
        db.session.commit()
        outbox.send_after_commit()
