"""The short-lived store: purge what has expired (the embedded SQL store)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from idp.cli import emit, json_option


@click.group("store")
def store_group() -> None:
    """The short-lived store (sessions, codes, rate limits)."""


@store_group.command("purge")
@json_option
@with_appcontext
def purge_command(as_json: bool) -> None:
    """Delete the expired entries now (the application also does it as it writes;
    Redis needs neither)."""
    purged = current_app.extensions["idp.store"].purge_expired()
    emit({"purged": purged}, as_json, f"{purged} expired entries purged.")


def register(cli: click.Group) -> None:
    cli.add_command(store_group)
