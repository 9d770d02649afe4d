"""Outbox commands: deliver what is due on every channel (run it every minute from cron
or a timer), list what is not delivered."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.outbox import delivery
from idp.outbox.channels import installed
from idp.outbox.models import OutboxItem


def _channel(name: str | None) -> str | None:
    if name is not None and name not in installed():
        raise click.ClickException(
            f"no channel {name!r}: choose among {', '.join(sorted(installed()))}")
    return name


channel_option = click.option("--channel", help="Only this channel (mail, backchannel, deferred).")


@click.group("outbox")
def outbox_group() -> None:
    """The outbox: mail and back-channel logout tokens waiting to leave."""


@outbox_group.command("deliver")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              help="At most this many items per channel in this run.")
@channel_option
@json_option
@with_appcontext
def deliver_command(limit: int, channel: str | None, as_json: bool) -> None:
    """Send what is due: new items and retries of failed ones.

    Safe to run in several processes and hosts at once, and while the application sends
    in the background: each item is claimed before it is sent, so one of them sends it.
    """
    channel = _channel(channel)
    names = [channel] if channel else sorted(installed())
    report = delivery.deliver_due(channel, limit)
    data: dict[str, Any] = {
        "channels": {name: report.summary(name) | {"pending": delivery.pending_count(name)}
                     for name in names},
        "failures": [{"id": o.item, "channel": o.channel, "recipient": o.recipient,
                      "error": o.error, "abandoned": o.abandoned}
                     for o in report.outcomes if o.error is not None],
    }
    lines = [f"{name}: {s['delivered']} delivered, {s['retry_later']} to retry later, "
             f"{s['abandoned']} abandoned, {s['left']} left for later, "
             f"{s['pending']} still pending" for name, s in data["channels"].items()]
    lines += [f"  #{f['id']} {f['channel']} {f['recipient']}: {f['error']}"
              f"{' (abandoned)' if f['abandoned'] else ''}" for f in data["failures"]]
    emit(data, as_json, "\n".join(lines))


@outbox_group.command("pending")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@channel_option
@json_option
@with_appcontext
def pending_command(limit: int, channel: str | None, as_json: bool) -> None:
    """List the items not delivered, oldest first: waiting, being sent, or abandoned."""
    rows = [_row(item) for item in delivery.pending(limit, _channel(channel))]
    text = "\n".join(
        f"#{r['id']} {r['channel']} {r['recipient']} {r['state']}  attempts={r['attempts']}"
        f"  next={r['next_attempt_at'] or '-'}  {r['last_error'] or ''}".rstrip()
        for r in rows
    ) or "Nothing waiting."
    emit(rows, as_json, text)


def _row(item: OutboxItem) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {"id": item.id, "channel": item.channel, "recipient": item.recipient,
            "subject": item.subject, "state": item.state(), "attempts": item.attempts,
            "next_attempt_at": when(item.next_attempt_at), "last_error": item.last_error,
            "created_at": when(item.created_at), "abandoned_at": when(item.abandoned_at)}


def register(cli: click.Group) -> None:
    cli.add_command(outbox_group)
