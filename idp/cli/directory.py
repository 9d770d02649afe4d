"""Directory administration: accounts, profiles, habilitations, catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.cli import emit, json_option
from idp.core.audit import Actor
from idp.directory import services
from idp.directory.enums import ProfileState
from idp.directory.models import Domain, Profile
from idp.extensions import db
from idp.mfa import service as second_factor


def account_dict(account) -> dict:  # type: ignore[no-untyped-def]
    return {"identifier": account.identifier, "given_name": account.given_name,
            "family_name": account.family_name, "email": account.email,
            "state": str(account.state)}


def profile_dict(profile: Profile) -> dict:
    return {
        "id": profile.id, "account": profile.account.identifier, "label": profile.label,
        "entity": profile.entity.code, "entity_name": profile.entity.name,
        "state": str(profile.state),
        "roles": sorted(f"{h.role.domain_code}/{h.role.code}" for h in profile.habilitations),
    }


# --- accounts -------------------------------------------------------------------------


@click.group("accounts")
def accounts_group() -> None:
    """Person accounts (one per person)."""


@accounts_group.command("create")
@click.option("--given-name", required=True, help="Prénom.")
@click.option("--family-name", required=True, help="Nom.")
@click.option("--email", required=True)
@click.option("--phone")
@click.option("--identifier", help="Impose an identifier (default: a new random one).")
@click.option("--password-stdin/--no-password", default=True, show_default=True,
              help="Read the password from the first line of standard input.")
@json_option
@with_appcontext
def accounts_create(given_name: str, family_name: str, email: str, phone: str | None,
                    identifier: str | None, password_stdin: bool, as_json: bool) -> None:
    """Create an account; the password is read from standard input."""
    password = None
    if password_stdin:
        if sys.stdin is None or sys.stdin.isatty():
            click.echo("Password: ", nl=False, err=True)
        password = (sys.stdin.readline() if sys.stdin else "").rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
    account = services.create_account(
        given_name=given_name, family_name=family_name, email=email, phone=phone,
        identifier=identifier, password=password, actor=Actor.cli(),
        password_min_length=current_app.config["IDP"]["security"]["password_min_length"],
    )
    db.session.commit()
    emit(account_dict(account), as_json, f"Created account {account.identifier} "
                                         f"({account.full_name}).")


@accounts_group.command("show")
@click.argument("identifier")
@json_option
@with_appcontext
def accounts_show(identifier: str, as_json: bool) -> None:
    """Show an account and its profiles."""
    account = services.get_account(identifier)
    data = account_dict(account) | {"profiles": [profile_dict(p) for p in account.profiles]}
    if as_json:
        emit(data, True)
        return
    click.echo(f"{account.identifier}  {account.full_name}  <{account.email}>  {account.state}")
    for p in data["profiles"]:
        click.echo(f"  profile {p['id']}: {p['label']} @ {p['entity']} [{p['state']}] "
                   f"{' '.join(p['roles']) or '(no role)'}")


@accounts_group.command("reset-second-factor")
@click.argument("identifier")
@json_option
@with_appcontext
def accounts_reset_second_factor(identifier: str, as_json: bool) -> None:
    """Remove an account's second factor, TOTP app and passkeys (a lost phone): audited,
    the holder mailed."""
    account = services.get_account(identifier)
    removed = second_factor.remove(account, Actor.cli(), by_administrator=True)
    db.session.commit()
    emit({"identifier": account.identifier, "reset": removed}, as_json,
         f"Second factor of {account.identifier} reset; the holder is told by mail "
         "(`idp outbox deliver`)." if removed
         else f"{account.identifier} has no second factor: nothing to reset.")


# --- profiles -------------------------------------------------------------------------


@click.group("profiles")
def profiles_group() -> None:
    """Profiles: an account attached to an entity, with habilitations."""


@profiles_group.command("create")
@click.option("--account", "identifier", required=True, help="Account identifier.")
@click.option("--entity", "entity_code", required=True, help="Entity code or FINESS.")
@click.option("--label", required=True, help="Libellé du profil.")
@click.option("--email", help="Override of the account's email for this profile.")
@click.option("--state", type=click.Choice([s.value for s in ProfileState]),
              default=ProfileState.ACTIVE.value, show_default=True)
@json_option
@with_appcontext
def profiles_create(identifier: str, entity_code: str, label: str, email: str | None,
                    state: str, as_json: bool) -> None:
    """Create a profile for an account on an entity."""
    profile = services.create_profile(
        services.get_account(identifier), services.get_entity(entity_code), label=label,
        email=email, state=ProfileState(state), actor=Actor.cli(),
    )
    db.session.commit()
    emit(profile_dict(profile), as_json, f"Created profile {profile.id} "
                                         f"« {profile.label} » on {profile.entity.code}.")


# --- habilitations --------------------------------------------------------------------


@click.group("habilitations")
def habilitations_group() -> None:
    """Roles held by a profile in a domain."""


def _habilitation_command(name: str, help_text: str):  # type: ignore[no-untyped-def]
    @habilitations_group.command(name, help=help_text)
    @click.option("--profile", "profile_id", required=True, type=int, help="Profile id.")
    @click.option("--domain", required=True, help="Domain code, e.g. ANCRE.")
    @click.option("--role", required=True, help="Role code, e.g. LECTEUR.")
    @json_option
    @with_appcontext
    def command(profile_id: int, domain: str, role: str, as_json: bool) -> None:
        profile = services.get_profile(profile_id)
        role_row = services.get_role(domain, role)
        operation = services.grant if name == "grant" else services.revoke
        operation(profile, role_row, Actor.cli())
        db.session.commit()
        verb = "Granted" if name == "grant" else "Revoked"
        emit(profile_dict(profile), as_json,
             f"{verb} {role_row.domain_code}/{role_row.code} "
             f"{'to' if name == 'grant' else 'from'} profile {profile.id}.")

    return command


_habilitation_command("grant", "Give a role to a profile (exclusive roles are refused).")
_habilitation_command("revoke", "Take a role away from a profile.")


# --- catalogue ------------------------------------------------------------------------


@click.group("catalogue")
def catalogue_group() -> None:
    """Domains and roles."""


@catalogue_group.command("load")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path))
@json_option
@with_appcontext
def catalogue_load(path: Path | None, as_json: bool) -> None:
    """Upsert the catalogue from PATH (default: the catalogue shipped with PLAGE)."""
    from idp.directory.catalogue import load_catalogue

    domains, roles = load_catalogue(Actor.cli(), path)
    db.session.commit()
    emit({"domains": domains, "roles": roles}, as_json,
         f"Catalogue loaded: {domains} domains, {roles} roles.")


@catalogue_group.command("list")
@json_option
@with_appcontext
def catalogue_list(as_json: bool) -> None:
    """List domains and their roles."""
    domains = db.session.scalars(select(Domain).order_by(Domain.code)).all()
    data = [{"code": d.code, "label": d.label, "required_acr": d.required_acr,
             "roles": [{"code": r.code, "label": r.label, "exclusive": r.exclusive_group}
                       for r in d.roles]} for d in domains]
    if as_json:
        emit(data, True)
        return
    for d in data:
        level = f"  (requires {d['required_acr']})" if d["required_acr"] else ""
        click.echo(f"{d['code']}: {d['label']}{level}")
        for r in d["roles"]:
            excl = f"  (exclusive: {r['exclusive']})" if r["exclusive"] else ""
            click.echo(f"  {r['code']}: {r['label']}{excl}")


@catalogue_group.command("add-role")
@click.option("--domain", required=True)
@click.option("--domain-label", help="Label when the domain is new.")
@click.option("--role", required=True)
@click.option("--label", required=True)
@click.option("--exclusive", help="Exclusivity group within the domain.")
@json_option
@with_appcontext
def catalogue_add_role(domain: str, domain_label: str | None, role: str, label: str,
                       exclusive: str | None, as_json: bool) -> None:
    """Add (or update) a role, creating its domain when needed."""
    from idp.directory.catalogue import CatalogueError, UnknownDomain, add_role

    try:
        role_row = add_role(domain, role, label, Actor.cli(), domain_label=domain_label,
                            exclusive=exclusive)
    except UnknownDomain:
        raise click.ClickException(
            f"unknown domain {domain}: give --domain-label to create it") from None
    except CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    domain_row = role_row.domain
    emit({"domain": domain_row.code, "role": role_row.code, "label": role_row.label},
         as_json, f"Role {domain_row.code}/{role_row.code} « {role_row.label} » saved.")


@catalogue_group.command("require-acr")
@click.argument("domain")
@click.argument("level")
@json_option
@with_appcontext
def catalogue_require_acr(domain: str, level: str, as_json: bool) -> None:
    """Make every login to DOMAIN's applications reach LEVEL (eidas2: the second factor;
    eidas1: the password will do). A lower session is stepped up."""
    row = services.get_domain(domain)
    services.require_acr(row, level, Actor.cli())
    db.session.commit()
    emit({"domain": row.code, "required_acr": row.required_acr}, as_json,
         f"Logins to the applications of {row.code} require "
         f"{row.required_acr or 'the password only'}.")


def register(cli: click.Group) -> None:
    for command in (accounts_group, profiles_group, habilitations_group, catalogue_group):
        cli.add_command(command)
