"""Reviews of rights: the national report of Revue des habilitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import Select

from idp.cli import emit, json_option
from idp.core.clock import utcnow
from idp.directory import rules
from idp.extensions import db
from idp.oversight import service


def _rows(query: Select) -> list[dict[str, Any]]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    rows = []
    for p, last_use in db.session.execute(query.execution_options(yield_per=1000)):
        rows.append({
            "profile_id": p.id, "identifier": p.account.identifier,
            "name": p.account.full_name, "label": p.label, "entity": p.entity.name,
            "finess": p.entity.finess, "entity_code": p.entity.code,
            "roles": [f"{r.domain_code}/{r.code}" for r in rules.profile_roles(p)],
            "last_application_sign_in": when(last_use),
            "last_account_sign_in": when(p.account.last_login_at)})
    return rows


def _text(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"{title}: {len(rows)}"]
    lines += [f"  #{r['profile_id']} {r['identifier']} {r['name']} | {r['label']} | "
              f"{r['entity']} ({r['finess'] or r['entity_code']}) | "
              f"{', '.join(r['roles']) or '-'} | last application sign-in "
              f"{(r['last_application_sign_in'] or 'never')[:10]}" for r in rows]
    return lines


@click.group("reviews")
def reviews_group() -> None:
    """Reviews of rights (Revue des habilitations)."""


@reviews_group.command("report")
@click.option("--months", type=click.IntRange(min=1), default=None,
              help="No sign-in to any application for this many months "
                   "(default: security.review_inactive_months).")
@json_option
@with_appcontext
def report_command(months: int | None, as_json: bool) -> None:
    """The national report: the active profiles with no sign-in to any application for
    N months (created before that), and the profiles holding an administrator role."""
    months = months or int(current_app.config["IDP"]["security"]["review_inactive_months"])
    cutoff = service.months_before(utcnow(), months)
    data = {"months": months, "cutoff": cutoff.isoformat(),
            "inactive": _rows(service.inactive_profiles(None, cutoff)),
            "administrators": _rows(service.administrator_profiles(None))}
    text = [*_text(f"Profiles with no sign-in to any application for {months} months "
                   f"(since {cutoff.date().isoformat()})", data["inactive"]),
            *_text("Profiles holding an administrator role", data["administrators"])]
    emit(data, as_json, "\n".join(text))


def register(cli: click.Group) -> None:
    cli.add_command(reviews_group)
