"""Set-up commands: init, serve, db upgrade, keys."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.core.audit import Actor
from idp.extensions import db
from idp.keys.service import DEFAULT_ALGORITHM, SUPPORTED_ALGORITHMS


def _settings() -> dict:
    return current_app.config["IDP"]


def _key_row(row) -> dict:  # type: ignore[no-untyped-def]
    return {"kid": row.kid, "alg": row.alg, "state": row.state,
            "created_at": row.created_at.isoformat(),
            "publish_until": row.publish_until.isoformat() if row.publish_until else None}


@click.command("init")
@json_option
@with_appcontext
def init_command(as_json: bool) -> None:
    """Create or upgrade the database schema, load the catalogue, generate signing keys."""
    from idp import migrations
    from idp.directory.catalogue import load_catalogue
    from idp.keys import service as keys

    migrations.upgrade(_settings()["database"]["url"])
    actor = Actor.cli()
    domains, roles = load_catalogue(actor)
    rows = keys.ensure_keys(_settings()["keys"]["passphrase"], actor)
    db.session.commit()
    emit(
        {"database": "up to date", "domains": domains, "roles": roles,
         "keys": [_key_row(r) for r in rows]},
        as_json,
        f"Database ready, catalogue loaded ({domains} domains, {roles} roles), "
        f"signing keys: {', '.join(f'{r.alg} {r.kid}' for r in rows)}.",
    )


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: server.host).")
@click.option("--port", default=None, type=int, help="Port (default: server.port).")
@click.option("--threads/--no-threads", default=True, help="Serve requests in threads.")
@with_appcontext
def serve_command(host: str | None, port: int | None, threads: bool) -> None:
    """Run the provider with the built-in server (production: gunicorn, see README)."""
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    host = host or _settings()["server"]["host"]
    port = port or _settings()["server"]["port"]
    click.echo(f"PLAGE identity provider on http://{host}:{port}/ (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=threads, use_reloader=False)


@click.group("db")
def db_group() -> None:
    """Database schema migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION."""
    from idp import migrations

    migrations.upgrade(_settings()["database"]["url"], revision)
    click.echo(f"Database at {migrations.current(_settings()['database']['url'])}.")


@click.group("keys")
def keys_group() -> None:
    """Signing keys (private keys encrypted with keys.passphrase)."""


@keys_group.command("list")
@json_option
@with_appcontext
def keys_list(as_json: bool) -> None:
    """List the signing keys and their state."""
    from idp.keys import service as keys

    rows = [_key_row(r) for r in keys.all_keys()]
    emit(rows, as_json, None if rows else "No signing key: run `idp init`.")


@keys_group.command("generate")
@click.option("--alg", type=click.Choice(SUPPORTED_ALGORITHMS), default=DEFAULT_ALGORITHM,
              show_default=True)
@json_option
@with_appcontext
def keys_generate(alg: str, as_json: bool) -> None:
    """Generate the first active key for an algorithm."""
    from idp.keys import service as keys

    row = keys.generate(alg, _settings()["keys"]["passphrase"], Actor.cli())
    db.session.commit()
    emit(_key_row(row), as_json, f"Generated {row.alg} key {row.kid}.")


@keys_group.command("rotate")
@click.option("--alg", type=click.Choice(SUPPORTED_ALGORITHMS), default=DEFAULT_ALGORITHM,
              show_default=True)
@json_option
@with_appcontext
def keys_rotate(alg: str, as_json: bool) -> None:
    """Replace the active key; the old one stays published until its tokens expire."""
    from idp.keys import service as keys

    oidc = _settings()["oidc"]
    # Past the longest-lived signed token, plus a margin for clock skew and caches.
    grace = timedelta(seconds=max(oidc["id_token_ttl"], oidc["access_token_ttl"]) + 300)
    row = keys.rotate(alg, _settings()["keys"]["passphrase"], Actor.cli(), retire_after=grace)
    db.session.commit()
    emit(_key_row(row), as_json, f"New active {row.alg} key {row.kid}; the previous one "
                                 f"stays published for {int(grace.total_seconds())} s.")


def register(cli: click.Group) -> None:
    for command in (init_command, serve_command, db_group, keys_group):
        cli.add_command(command)
