"""Entities: import of a FINESS-extract-like CSV file, listing, details."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import func, or_, select

from idp.cli import emit, json_option
from idp.core.audit import Actor
from idp.directory import rules, services
from idp.directory.enums import EntityType
from idp.directory.geography import departements, regions
from idp.directory.models import Entity
from idp.extensions import db

TYPE_CHOICES = [*(t.value for t in EntityType), "OG"]


def _managed_counts(ids: list[int]) -> dict[int, int]:
    """{EJ id: establishments it manages} for the given ids (one query)."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(Entity.managing_og_id, func.count())
        .where(Entity.managing_og_id.in_(ids)).group_by(Entity.managing_og_id)
    )
    return dict(rows.all())


def entity_dict(entity: Entity, managed: int) -> dict[str, Any]:
    return {
        "code": entity.code, "finess": entity.finess,
        "type": rules.claimed_entity_type(entity.type, managed),
        "name": entity.name, "city": entity.city, "postal_code": entity.postal_code,
        "departement": entity.departement, "region": entity.region,
        "level": str(entity.level), "active": entity.active,
    }


class _ProgressBars:
    """The importer's progress callback drawn as click progress bars on stderr.

    Only on a terminal: redirected, click would still print each bar's label, and a
    script reading stderr expects nothing there but errors.
    """

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.enabled = sys.stderr.isatty()
        self.phase: str | None = None
        self.bar: Any = None
        self.shown = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            if self.bar is not None:
                self.bar.render_finish()
            self.bar = self.stack.enter_context(click.progressbar(
                length=total, label=phase.capitalize().ljust(8),
                file=sys.stderr))
            self.phase, self.shown = phase, 0
        self.bar.update(done - self.shown)
        self.shown = done


@click.group("entities")
def entities_group() -> None:
    """Entities: establishments (ET, EJ/OG), ARS, CD, national operators."""


@entities_group.command("import")
@click.argument("path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@with_appcontext
def entities_import(path: Path, as_json: bool) -> None:
    """Import entities from a CSV file (all or nothing; see docs/entities-import.md).

    Columns: finess (or code), type, name, city, postal_code, departement, region,
    finess_ej, managing_og; separator `;` or `,`. Known entities are updated, new ones
    created; any bad row rejects the whole file and names its line.
    """
    from idp.directory.importer import ImportRejected, import_entities

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
    with contextlib.ExitStack() as stack:
        try:
            result = import_entities(data, Actor.cli(), source=path.name,
                                     progress=_ProgressBars(stack))
        except ImportRejected as exc:
            if as_json:
                emit({"imported": False, "errors": exc.errors}, True)
            raise click.ClickException(str(exc)) from None
    db.session.commit()
    emit({"imported": True, **result.as_dict()}, as_json,
         f"Imported {path.name}: {result.created} created, {result.updated} updated, "
         f"{result.unchanged} unchanged; {result.og_derived} managing OG(s) derived.")


@entities_group.command("list")
@click.option("--search", help="Part of the code, FINESS, name or city.")
@click.option("--type", "entity_type", type=click.Choice(TYPE_CHOICES, case_sensitive=False),
              help="Only this type (OG: an EJ managing two establishments or more).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@with_appcontext
def entities_list(search: str | None, entity_type: str | None, limit: int,
                  as_json: bool) -> None:
    """List entities, ordered by code."""
    query = select(Entity).order_by(Entity.code)
    if search:
        term = f"%{search.strip().lower()}%"
        query = query.where(or_(*(func.lower(column).like(term) for column in
                                  (Entity.code, Entity.finess, Entity.name, Entity.city))))
    if entity_type:
        entity_type = entity_type.upper()
        if entity_type == "OG":
            managing = (select(Entity.managing_og_id).where(Entity.managing_og_id.is_not(None))
                        .group_by(Entity.managing_og_id)
                        .having(func.count() >= rules.OG_MIN_ESTABLISHMENTS))
            query = query.where(Entity.type == EntityType.EJ, Entity.id.in_(managing))
        else:
            query = query.where(Entity.type == EntityType(entity_type))
    # One more than asked tells whether the list was cut.
    found = db.session.scalars(query.limit(limit + 1)).all()
    entities, more = found[:limit], len(found) > limit
    counts = _managed_counts([e.id for e in entities if e.type == EntityType.EJ])
    rows = [entity_dict(e, counts.get(e.id, 0)) for e in entities]
    if as_json:
        emit(rows, True)
        return
    if not rows:
        click.echo("No entity matches.")
        return
    width = max(len(r["code"]) for r in rows)
    for r in rows:
        place = f"{r['city'] or ''} ({r['departement']})" if r["departement"] else r["city"] or ""
        click.echo(f"{r['code']:<{width}}  {r['type']:<3}  {r['name']}  {place}".rstrip())
    if more:
        click.echo(f"(first {limit} shown; narrow with --search/--type or raise --limit)")


@entities_group.command("show")
@click.argument("code")
@json_option
@with_appcontext
def entities_show(code: str, as_json: bool) -> None:
    """Show an entity (by code or FINESS): links, administrators, who appoints its APE."""
    entity = services.get_entity(code)
    managed = services.managed_establishments(entity)
    data = entity_dict(entity, managed)
    data |= {
        "departement_name": departements().get(entity.departement or "", ("", ""))[0] or None,
        "region_name": regions().get(entity.region or ""),
        "legal_entity": _ref(entity.parent),
        "managing_og": _ref(entity.managing_og),
        "managed_establishments": managed,
        "administrators": [
            {"identifier": p.account.identifier, "name": p.account.full_name,
             "profile": p.id,
             "ape": rules.holds_ape(p)}
            for p in services.administrators_of(entity)
        ],
        "appointed_by": [_ref(e) for e in rules.appointing_entities(
            entity, services.authority_lookup())],
    }
    if as_json:
        emit(data, True)
        return
    click.echo(f"{data['code']}  {data['type']}  {data['name']}")
    place = " ".join(filter(None, (data["postal_code"], data["city"])))
    for label, value in (
        ("FINESS", data["finess"]),
        ("Level", data["level"]),
        ("Place", place),
        ("Département", data["departement"] and f"{data['departement']} "
                                                f"{data['departement_name'] or ''}"),
        ("Region", data["region"] and f"{data['region']} {data['region_name'] or ''}"),
        ("Legal entity", _ref_text(data["legal_entity"])),
        ("Managing OG", _ref_text(data["managing_og"])),
        ("Manages", data["managed_establishments"] or None),
        ("Active", "yes" if data["active"] else "no"),
        ("APE appointed by", ", ".join(filter(None, map(_ref_text, data["appointed_by"])))),
    ):
        if value:
            click.echo(f"  {label + ':':<18}{str(value).strip()}")
    admins = data["administrators"]
    click.echo(f"  {'Administrators:':<18}" + (", ".join(
        f"{a['identifier']} {a['name']}{' (APE)' if a['ape'] else ''}" for a in admins)
        or "none"))


def _ref(entity: Entity | None) -> dict[str, str] | None:
    return {"code": entity.code, "name": entity.name} if entity is not None else None


def _ref_text(ref: dict[str, str] | None) -> str | None:
    return f"{ref['code']} {ref['name']}" if ref else None


def register(cli: click.Group) -> None:
    cli.add_command(entities_group)
