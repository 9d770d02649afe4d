"""Mail commands: deliver the outbox (run it every minute from cron or a timer) and check
the mail settings with a test message."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.extensions import db
from idp.mail import service


def _backend() -> str:
    settings = current_app.config["IDP"]["mail"]
    if settings["backend"] == "smtp":
        return f"smtp {settings['smtp_host']}:{settings['smtp_port']}"
    return f"file {settings['directory']}"


@click.group("mail")
def mail_group() -> None:
    """Outgoing mail: the outbox and its delivery."""


@mail_group.command("deliver")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              help="At most this many messages in this run.")
@json_option
@with_appcontext
def deliver(limit: int, as_json: bool) -> None:
    """Send the messages that are due: new ones and retries of failed ones.

    Safe to run in several processes at once: each message is sent by one of them.
    Failures are retried later with a growing delay, never dropped.
    """
    report = service.deliver_due(limit)
    data: dict[str, Any] = report.as_dict() | {"pending": service.pending_count(),
                                               "backend": _backend()}
    lines = [f"sent: {data['sent']}, failed: {data['failed']}, left for later: "
             f"{data['left']}, still pending: {data['pending']} ({data['backend']})"]
    lines += [f"  message {id_}: {error}" for id_, error in data["errors"].items()]
    emit(data, as_json, "\n".join(lines))


@mail_group.command("check")
@click.option("--to", "address", required=True, help="Address that receives the test mail.")
@json_option
@with_appcontext
def check(address: str, as_json: bool) -> None:
    """Queue a test mail to ADDRESS and send it now; a failure exits with status 1 (the
    message stays in the outbox and `idp mail deliver` retries it)."""
    try:
        message = service.queue_template(address, "check", name=None, address=address)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    report = service.deliver_due(1, ids=[message.id])
    data = {"id": message.id, "to": address, "backend": _backend(),
            "sent": message.id in report.sent, "error": report.failed.get(message.id)}
    if data["sent"]:
        emit(data, as_json, f"test mail {message.id} sent to {address} ({data['backend']})")
        return
    if as_json:
        emit(data, as_json)
    reason = data["error"] or "another process is sending it"
    raise click.ClickException(
        f"test mail {message.id} to {address} not sent ({data['backend']}): {reason}; "
        "it stays in the outbox, `idp mail deliver` will retry it")


def register(cli: click.Group) -> None:
    cli.add_command(mail_group)
