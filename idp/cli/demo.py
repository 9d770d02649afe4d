"""The `demo` command: load the demo directory and print who can log in."""

from __future__ import annotations

from dataclasses import asdict

import click
from flask import current_app
from flask.cli import with_appcontext

from idp.cli import emit, json_option
from idp.core.audit import Actor
from idp.directory import services
from idp.extensions import db
from idp.mfa import service as second_factor

# A demo person with a second factor, and its secret (published: a demo only). Add it to
# an authenticator app, or print the current code with
# `python -c "import pyotp; print(pyotp.TOTP('<secret>').now())"`.
DEMO_SECOND_FACTOR = ("644880", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


@click.command("demo")
@click.option("--reset-passwords", is_flag=True,
              help="Set the demo password again on demo accounts whose password changed.")
@click.option("--on-https", is_flag=True,
              help="Load it even though the issuer is https (a staging site): the demo "
                   "passwords are public, whoever reads the README signs in with them.")
@json_option
@with_appcontext
def demo_command(reset_passwords: bool, on_https: bool, as_json: bool) -> None:
    """Load the demo directory (idempotent), register the demo applications and print the
    people with their passwords.

    Entities of every level (ATIH, CNG00SAGA, two ARS, a CD, two OGs and their ESMS, an
    establishment without OG) and people with fixed identifiers and demo passwords. Run
    `idp init` first.
    """
    from demo_apps.registration import DEMO_CLIENTS, register_demo_clients
    from idp.directory.demo import load_demo

    if current_app.config["IDP"]["server"]["issuer"].startswith("https://") and not on_https:
        raise click.ClickException(
            "the issuer is https, as in production: the demo accounts' passwords are "
            "public. Add --on-https to load them anyway (a staging site).")

    min_length = current_app.config["IDP"]["security"]["password_min_length"]
    result = load_demo(Actor.cli(), min_length, reset_passwords=reset_passwords)
    identifier, secret = DEMO_SECOND_FACTOR
    second_factor.enrol_demo(services.get_account(identifier), secret,
                             current_app.config["IDP"]["keys"]["passphrase"], Actor.cli())
    db.session.commit()
    apps_config = register_demo_clients()
    apps = [{"name": c.name, "client_id": c.client_id, "url": c.base_url()}
            for c in DEMO_CLIENTS]
    people = [asdict(p) for p in result.people]
    totp = {"identifier": identifier, "secret": secret}
    if as_json:
        emit({"changes": result.changes, "people": people, "applications": apps,
              "applications_config": str(apps_config), "second_factor": totp}, True)
        return
    click.echo(f"Demo directory loaded ({result.changes} changes)." if result.changes
               else "Demo directory already loaded: nothing changed.")
    headers = ("IDENTIFIER", "PASSWORD", "NAME")
    widths = [max(len(h), *(len(p[k]) for p in people))
              for h, k in zip(headers, ("identifier", "password", "name"), strict=True)]
    indent = sum(widths) + 2 * len(widths)
    click.echo("".join(h.ljust(w + 2) for h, w in zip(headers, widths, strict=True))
               + "PROFILES (entity: roles)")
    for p in people:
        cells = "".join(str(p[k]).ljust(w + 2) for k, w in
                        zip(("identifier", "password", "name"), widths, strict=True))
        for index, profile in enumerate(p["profiles"]):
            prefix = cells if index == 0 else " " * indent
            roles = ", ".join(profile["roles"]) or "(no role)"
            click.echo(f"{prefix}{profile['label']} @ {profile['entity']}: {roles}")
    click.echo(f"\nDemo applications registered ({apps_config}), served by "
               "`python -m demo_apps`:")
    for app in apps:
        click.echo(f"  {app['name']}: {app['url']}/ (client {app['client_id']})")
    click.echo(f"\n{identifier} signs in with a second factor (acr eidas2): add the key "
               f"{secret} to an authenticator app (TOTP, 6 digits, 30 s). To make an "
               "application require it: `idp clients update CLIENT_ID --require-acr eidas2`.")


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
