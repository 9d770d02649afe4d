"""Queueing mail in the outbox, and the outbox's mail channel.

`queue()` adds a mail to the caller's transaction (an outbox item on the `mail` channel);
the caller commits, then calls `idp.outbox.service.send_after_commit()`. The channel
sends it through the configured transport; a mail the server does not take is retried
as the `[outbox] mail_*` settings say.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from flask import current_app

from idp.mail.transports import transport
from idp.outbox import service as outbox
from idp.outbox.channels import Channel, Item
from idp.outbox.models import OutboxItem

CHANNEL = "mail"


def queue(to: str, subject: str, body: str, html: str | None = None) -> OutboxItem:
    """Add a mail to the current transaction; the caller commits it with its change."""
    to = to.strip()
    if to.count("@") != 1 or any(c.isspace() or c in ",;<>\"" for c in to):
        raise ValueError(f"not a single mail address: {to!r}")
    return outbox.put(CHANNEL, to, " ".join(subject.split()), {"body": body, "html": html})


def render(template: str, **context: Any) -> tuple[str, str]:
    """(subject, body) from templates/mail/<template>.txt: the subject is the first line,
    the body follows a blank line."""
    text = current_app.jinja_env.get_template(f"mail/{template}.txt").render(**context)
    subject, _, body = text.strip().partition("\n\n")
    body = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", body.strip())
    return subject.strip(), body + "\n"


def queue_template(to: str, template: str, **context: Any) -> OutboxItem:
    """Queue the mail written by templates/mail/<template>.txt."""
    subject, body = render(template, **context)
    return queue(to, subject, body)


def email_message(item: Item, sender: str) -> EmailMessage:
    """The MIME message of an outbox item (the same Message-ID at every attempt)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "plage.invalid"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = item.recipient
    message["Subject"] = item.subject
    message["Date"] = format_datetime(item.created_at)
    message["Message-ID"] = f"<{item.created_at:%Y%m%d%H%M%S}.{item.id}.outbox@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(item.payload["body"])
    if item.payload.get("html"):
        message.add_alternative(item.payload["html"], subtype="html")
    return message


class MailChannel(Channel):
    """Sends the mails of a batch over one transport (one SMTP connection)."""

    name = CHANNEL

    def __init__(self) -> None:
        self.settings = current_app.config["IDP"]["mail"]
        self.transport = transport(self.settings)

    def send(self, item: Item) -> None:
        self.transport.send(email_message(item, self.settings["sender"]))

    def close(self) -> None:
        self.transport.close()

