"""Back-channel logout deliveries: send what is due (cron), see what is waiting."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.oidc import backchannel
from idp.oidc.models import BackchannelDelivery


@click.group("logout")
def logout_group() -> None:
    """Back-channel logout tokens waiting for their clients."""


@logout_group.command("deliver")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(min=1),
              help="At most this many deliveries in this run.")
@json_option
@with_appcontext
def deliver_command(limit: int, as_json: bool) -> None:
    """POST the logout tokens that are due (after a failure or a crash).

    Meant for cron, every minute or so; several runs and the application processes may
    overlap: each delivery is claimed before it is sent, so none is sent twice at once.
    """
    outcomes = backchannel.deliver_due(limit)
    summary = {
        "delivered": sum(o.delivered for o in outcomes),
        "retry_later": sum(o.retry_in is not None for o in outcomes),
        "abandoned": sum(o.abandoned for o in outcomes),
        "failures": [{"delivery": o.delivery_id, "client_id": o.client_id, "error": o.error}
                     for o in outcomes if not o.delivered],
    }
    lines = [f"{summary['delivered']} delivered, {summary['retry_later']} to retry later, "
             f"{summary['abandoned']} abandoned."]
    lines += [f"  #{f['delivery']} {f['client_id']}: {f['error']}" for f in summary["failures"]]
    emit(summary, as_json, "\n".join(lines))


@logout_group.command("pending")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@json_option
@with_appcontext
def pending_command(limit: int, as_json: bool) -> None:
    """List the deliveries not made yet, oldest first (abandoned ones included)."""
    rows = [_row(r) for r in backchannel.undelivered(limit)]
    text = "\n".join(
        f"#{r['id']} {r['client_id']} {r['uri']}  attempts={r['attempts']}"
        f"  next={r['next_attempt_at']}  {r['last_error'] or ''}".rstrip() for r in rows
    ) or "Nothing waiting."
    emit(rows, as_json, text)


def _row(row: BackchannelDelivery) -> dict[str, Any]:
    return {"id": row.id, "client_id": row.client_id, "uri": row.uri,
            "attempts": row.attempts, "next_attempt_at": row.next_attempt_at.isoformat(),
            "last_error": row.last_error, "created_at": row.created_at.isoformat()}


def register(cli: click.Group) -> None:
    cli.add_command(logout_group)
