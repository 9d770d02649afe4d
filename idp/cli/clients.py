"""Client registry: the relying applications allowed to use the provider.

Only the service (idp.clients.service) knows the rules; these commands turn options into
its arguments and its results into text or JSON. A secret is printed once, when issued.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.clients import service
from idp.clients.models import Client
from idp.core.audit import Actor
from idp.extensions import db

# --clear FIELD (update): the optional settings that can be emptied, and their fields.
CLEARABLE = {
    "redirect-uris": "redirect_uris",
    "post-logout-uris": "post_logout_redirect_uris",
    "backchannel-logout-uri": "backchannel_logout_uri",
    "userinfo-alg": "userinfo_signed_response_alg",
    "jwks": "jwks",
    "require-acr": "required_acr",
}


def client_dict(client: Client) -> dict[str, Any]:
    """What `show` and `list --json` print: every setting, never the secret."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "type": "public" if client.is_public else "confidential",
        "disabled": client.disabled,
        "domains": list(client.domains),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "has_secret": client.client_secret_hash is not None,
        "grant_types": list(client.grant_types),
        "allowed_scopes": list(client.allowed_scopes),
        "first_party": client.first_party,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "userinfo_signed_response_alg": client.userinfo_signed_response_alg,
        "jwks": client.jwks,
        "required_acr": client.required_acr,
        "created_at": client.created_at.isoformat() if client.created_at else None,
        "updated_at": client.updated_at.isoformat() if client.updated_at else None,
    }


def _summary(client: Client) -> str:
    state = "  [disabled]" if client.disabled else ""
    kind = "public" if client.is_public else "confidential"
    return (f"{client.client_id}  {client.name}  ({kind}; {', '.join(client.domains)})"
            f"{state}")


def _show_text(client: Client) -> str:
    data = client_dict(client)
    data["jwks"] = service.jwk_thumbprints(client.jwks)  # thumbprints are enough to read
    lines = [_summary(client)]
    for key, value in data.items():
        if key in {"client_id", "name", "type", "disabled"}:
            continue
        shown = ", ".join(value) if isinstance(value, list) else value
        lines.append(f"  {key}: {'-' if shown in (None, '') else shown}")
    return "\n".join(lines)


def _print_secret(client: Client, secret: str | None, as_json: bool) -> None:
    """The client (and its new secret, if any) then, on stderr, the warning."""
    data = client_dict(client) | ({"client_secret": secret} if secret else {})
    text = _show_text(client) + (f"\nclient_secret: {secret}" if secret else "")
    emit(data, as_json, text)
    if secret:
        click.echo("Warning: store the client secret now: it cannot be shown again "
                   f"(`idp clients rotate-secret {client.client_id}` issues a new one).",
                   err=True)


def _read_jwks(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JWK Set (a JSON object)")
    return data


def _settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of `create` and `update`: one per setting (None / () when absent)."""
    options = [
        click.option("--name", help="Name shown to users (required for create)."),
        click.option("--domain", "domains", multiple=True,
                     help="Domain whose roles the tokens carry, e.g. ANCRE (repeatable)."),
        click.option("--redirect-uri", "redirect_uris", multiple=True,
                     help="Redirect URI, matched exactly (repeatable)."),
        click.option("--post-logout-uri", "post_logout_redirect_uris", multiple=True,
                     help="Redirect URI after logout (repeatable)."),
        click.option("--backchannel-logout-uri", help="Back-channel logout URI."),
        click.option("--public/--confidential", "public", default=None,
                     help="A public client (native or browser app) has no secret."),
        click.option("--first-party/--third-party", "first_party", default=None,
                     help="A first-party application skips the consent page."),
        click.option("--scope", "allowed_scopes", multiple=True,
                     help=f"Allowed scope (repeatable; default: all of "
                          f"{' '.join(service.SCOPES)})."),
        click.option("--grant-type", "grant_types", multiple=True,
                     help=f"Grant type (repeatable; default: "
                          f"{' '.join(service.DEFAULT_GRANT_TYPES)})."),
        click.option("--auth-method", "token_endpoint_auth_method",
                     help=f"Token endpoint authentication: one of "
                          f"{', '.join(service.CONFIDENTIAL_AUTH_METHODS)} (default "
                          f"{service.DEFAULT_CONFIDENTIAL_AUTH_METHOD}); "
                          f"{service.PUBLIC_AUTH_METHOD} for public ones."),
        click.option("--id-token-alg", "id_token_signed_response_alg",
                     help=f"ID token signing algorithm ({' or '.join(service.SIGNING_ALGORITHMS)}; "
                          f"default {service.NEW_CLIENT_SIGNING_ALGORITHM})."),
        click.option("--userinfo-alg", "userinfo_signed_response_alg",
                     help="Sign userinfo responses with this algorithm (default: plain JSON)."),
        click.option("--jwks", "jwks_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="JSON file with the client's public keys (for private_key_jwt)."),
        click.option("--require-acr", "required_acr",
                     help=f"Level every login must reach ({' or '.join(service.ACR_VALUES)}"
                          "; a lower session is stepped up)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The settings that were given on the command line, as service arguments."""
    changes = {key: value for key, value in options.items()
               if value is not None and value != () and key != "jwks_path"}
    if options.get("jwks_path") is not None:
        changes["jwks"] = _read_jwks(options["jwks_path"])
    return changes


@click.group("clients")
def clients_group() -> None:
    """Client applications (OpenID Connect relying parties)."""


@clients_group.command("create")
@_settings_options
@click.option("--client-id", help="Impose a client_id (default: from the name).")
@json_option
@with_appcontext
def clients_create(client_id: str | None, as_json: bool, **options: Any) -> None:
    """Register a client; its secret is printed once."""
    settings = _given(options)
    if "name" not in settings:
        raise click.ClickException("missing option --name")
    client, secret = service.create_client(
        domains=settings.pop("domains", ()), client_id=client_id, actor=Actor.cli(),
        **settings,
    )
    db.session.commit()
    _print_secret(client, secret, as_json)


@clients_group.command("list")
@json_option
@with_appcontext
def clients_list(as_json: bool) -> None:
    """List the clients."""
    clients = service.list_clients()
    if as_json:
        emit([client_dict(c) for c in clients], True)
        return
    emit(None, False, "\n".join(_summary(c) for c in clients) or "No client registered.")


@clients_group.command("show")
@click.argument("client_id")
@json_option
@with_appcontext
def clients_show(client_id: str, as_json: bool) -> None:
    """Show a client's settings (never its secret)."""
    client = service.get_client(client_id)
    emit(client_dict(client), as_json, _show_text(client))


@clients_group.command("update")
@click.argument("client_id")
@_settings_options
@click.option("--clear", "clear", multiple=True, type=click.Choice(sorted(CLEARABLE)),
              help="Empty an optional setting (repeatable).")
@json_option
@with_appcontext
def clients_update(client_id: str, clear: tuple[str, ...], as_json: bool,
                   **options: Any) -> None:
    """Change a client's settings; a repeatable option given replaces the whole list."""
    client = service.get_client(client_id)
    changes = _given(options)
    for name in clear:
        field = CLEARABLE[name]
        if field in changes:
            raise click.ClickException(f"--clear {name} contradicts the value given for it")
        changes[field] = None
    if not changes:
        raise click.ClickException("nothing to change: give at least one option")
    client, secret = service.update_client(client, Actor.cli(), **changes)
    db.session.commit()
    _print_secret(client, secret, as_json)


@clients_group.command("rotate-secret")
@click.argument("client_id")
@json_option
@with_appcontext
def clients_rotate_secret(client_id: str, as_json: bool) -> None:
    """Issue a new secret; the old one stops working at once."""
    client = service.get_client(client_id)
    secret = service.rotate_secret(client, Actor.cli())
    db.session.commit()
    _print_secret(client, secret, as_json)


def _state_command(name: str, operation: Callable[[Client, Actor], None],
                   help_text: str) -> click.Command:
    @clients_group.command(name, help=help_text)
    @click.argument("client_id")
    @json_option
    @with_appcontext
    def command(client_id: str, as_json: bool) -> None:
        client = service.get_client(client_id)
        operation(client, Actor.cli())
        db.session.commit()
        emit(client_dict(client), as_json, f"Client {client.client_id} {name}d.")

    return command


_state_command("disable", service.disable_client,
               "Disable a client: the provider stops serving it until it is enabled.")
_state_command("enable", service.enable_client, "Let a disabled client work again.")


def register(cli: click.Group) -> None:
    cli.add_command(clients_group)
