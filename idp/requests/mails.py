"""The mails of the request flows, queued in the outbox with the change that causes
them (the caller commits, then calls `outbox.send_after_commit()`): a request is stored
even when the mail server is down, and its mails leave once it is back."""

from __future__ import annotations

from typing import Any

from idp.core.audit import Actor, record
from idp.directory import requests, services
from idp.directory.models import Account, Domain, ProfileRequest
from idp.extensions import db
from idp.mail import service as mail
from idp.requests.wording import entity_phrase
from idp.web import deferred
from idp.web.redirects import public_url
from idp.web.throttle import anonymous_requests

NAME_CHECK = "name_check"


def _applications(request: ProfileRequest) -> list[str]:
    labels = {d.code: d.label for d in db.session.query(Domain)}
    return [labels.get(code, code) for code in request.applications]


def _context(request: ProfileRequest) -> dict[str, object]:
    return {"request": request, "entity": entity_phrase(request.entity),
            "applications": _applications(request)}


def request_filed(request: ProfileRequest) -> None:
    """The requester's confirmation, and one mail to each person who must decide."""
    context = _context(request)
    mail.queue_template(request.email, "request_received", name=request.full_name,
                        requests_url=public_url("requests.my_requests"), **context)
    url = public_url("requests.detail", request_id=request.id)
    for profile in requests.deciders(request):
        mail.queue_template(profile.effective_email, "request_to_decide",
                            name=profile.account.full_name, decide_url=url,
                            for_entity=entity_phrase(profile.entity), **context)


def request_decided(decision: requests.Decision, activation_code: str | None,
                    link_days: int) -> None:
    """The requester learns the decision, with the administrator's comment; a newcomer
    gets the link to choose his password (its code after `#`, and written out). An APE
    that the decision replaced is told, as an administrator still."""
    request = decision.request
    activation_url = (f"{public_url('requests.activate')}#{activation_code}"
                      if activation_code else None)
    mail.queue_template(
        request.email, "request_accepted" if decision.accepted else "request_refused",
        name=request.full_name, account=decision.account, activation_url=activation_url,
        code=activation_code, link_days=link_days, login_url=public_url("login.login"),
        **_context(request))
    for former in decision.demoted:
        mail.queue_template(former.effective_email, "ape_replaced",
                            name=former.account.full_name, profile=former,
                            successor=request.full_name, entity=entity_phrase(request.entity))


@deferred.handler(NAME_CHECK)
def name_taken(actor: Actor, typed: dict[str, Any]) -> None:
    """« Créer un compte » found the name: its holders get their identifier, by mail
    only (run in the background, see `idp.web.deferred`)."""
    given, family = typed["given_name"], typed["family_name"]
    accounts = services.accounts_named(given, family)
    if not accounts or not anonymous_requests("name").allow(services.name_key(given, family)):
        return
    by_address: dict[str, list[Account]] = {}
    for account in accounts:
        by_address.setdefault(account.email.lower(), []).append(account)
        record(actor, "account.duplicate_notice", target=account)
    for same in by_address.values():
        mail.queue_template(same[0].email, "account_exists", name=same[0].full_name,
                            accounts=same, login_url=typed["login_url"])
