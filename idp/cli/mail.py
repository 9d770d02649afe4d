"""Mail command: check the mail settings with a test message (delivery is the outbox's:
`idp outbox deliver`)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.extensions import db
from idp.mail import service
from idp.outbox import delivery


def _backend() -> str:
    settings = current_app.config["IDP"]["mail"]
    if settings["backend"] == "smtp":
        return f"smtp {settings['smtp_host']}:{settings['smtp_port']}"
    return f"file {settings['directory']}"


@click.group("mail")
def mail_group() -> None:
    """Outgoing mail."""


@mail_group.command("check")
@click.option("--to", "address", required=True, help="Address that receives the test mail.")
@json_option
@with_appcontext
def check(address: str, as_json: bool) -> None:
    """Queue a test mail to ADDRESS and send it now; a failure exits with status 1 (the
    message stays in the outbox and `idp outbox deliver` retries it)."""
    try:
        message = service.queue_template(address, "check", name=None, address=address)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    report = delivery.deliver_due(service.CHANNEL, 1, ids=[message.id])
    data = {"id": message.id, "to": address, "backend": _backend(),
            "sent": message.id in report.delivered, "error": report.failed.get(message.id)}
    if data["sent"]:
        emit(data, as_json, f"test mail {message.id} sent to {address} ({data['backend']})")
        return
    if as_json:
        emit(data, as_json)
    reason = data["error"] or "another process is sending it"
    raise click.ClickException(
        f"test mail {message.id} to {address} not sent ({data['backend']}): {reason}; "
        "it stays in the outbox, `idp outbox deliver` will retry it")


def register(cli: click.Group) -> None:
    cli.add_command(mail_group)
