"""`flask plage ...`: the application administrator's commands for pairings."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.rp.pairing import list_pairings, unpair
from idp.rp.state import kit


@click.group("plage")
def plage_cli() -> None:
    """PLAGE sign-in: pairings of PLAGE identifiers with local accounts."""


@plage_cli.command("pairings")
@click.option("--sub", help="Only the pairings of this PLAGE identifier.")
@with_appcontext
def pairings_command(sub: str | None) -> None:
    """List the pairings (PLAGE identifier, local account, date)."""
    rows = list_pairings(kit().engine, sub)
    if not rows:
        click.echo("No pairing.")
    for row in rows:
        click.echo(f"{row.sub}\t{row.local_account}\t{row.created_at:%Y-%m-%d %H:%M}")


@plage_cli.command("unpair")
@click.argument("sub")
@click.option("--account", "local_account", help="Only the pairing with this local account.")
@with_appcontext
def unpair_command(sub: str, local_account: str | None) -> None:
    """Remove the pairings of a PLAGE identifier: it is asked to pair again next time."""
    count = unpair(kit().engine, sub, local_account)
    if not count:
        raise click.ClickException(f"no pairing for {sub}")
    click.echo(f"{count} pairing(s) removed for {sub}.")
