"""Work that an anonymous page defers to the background, so that neither its answer nor
its timing tells whether an account exists.

« Identifiant perdu ? », « Mot de passe oublié ? » and the duplicate check of « Créer un
compte » look someone up and, when they find him, mail him. Done in the request, the
lookup and the mail would make a known person's answer measurably slower. Instead the
page queues what was typed (`queue`), the same way whatever it was, and answers at once;
the outbox's `deferred` channel then runs the handler that the page package registered
for that kind of request (`handler`), which looks up and queues the mail if one is due.
A handler runs outside any request: it gets the audit actor, and the page passes the
absolute URLs its mail needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request

from idp.core.audit import Actor
from idp.extensions import db
from idp.outbox import service as outbox
from idp.outbox.channels import Channel, Item

CHANNEL = "deferred"
Handler = Callable[[Actor, dict[str, Any]], None]
_handlers: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that answers the deferred requests of `kind`."""
    def register(function: Handler) -> Handler:
        _handlers[kind] = function
        return function
    return register


def queue(kind: str, actor: Actor | None = None, **typed: str) -> None:
    """Queue a request of `kind` (what was typed, and the URLs its mail needs); the
    caller commits, then calls `outbox.send_after_commit()`. `actor`: the signed-in
    person for whom a page defers long work (an import), audited as him; anonymous
    otherwise."""
    if kind not in _handlers:
        raise ValueError(f"no deferred handler for {kind!r}")
    payload: dict[str, Any] = {"ip": request.remote_addr, "typed": typed}
    if actor is not None:
        payload["actor"] = {"label": actor.label, "account_id": actor.account_id}
    outbox.put(CHANNEL, recipient="", subject=kind, payload=payload)


class DeferredChannel(Channel):
    """Runs the handler of each deferred request, in its own transaction."""

    name = CHANNEL

    def send(self, item: Item) -> None:
        answer = _handlers.get(item.subject)
        if answer is None:
            raise ValueError(f"no deferred handler for {item.subject!r}")
        who = item.payload.get("actor") or {"label": "anonymous"}
        answer(Actor(label=who["label"], account_id=who.get("account_id"),
                     ip=item.payload.get("ip")), item.payload["typed"])
        db.session.commit()
        outbox.send_after_commit()
