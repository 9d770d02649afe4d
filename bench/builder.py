"""A directory of the sector's size for the benchmark: entities (legal entities managing
ten establishments each, FINESS numbers valid, names and cities as the « Entité » field
meets them), accounts each with a profile and a role, pending profile requests, and an
administrator whose queue the bench reads.

    python -m bench build --accounts 1000000 --entities 100000 [--database-url URL]

Without --database-url, PostgreSQL is started from the Debian binaries (as for a run)
and the build is timed into a throw-away database. `python -m bench --accounts N
--entities M` builds the same directory before measuring. Rows go in with COPY on
PostgreSQL (executemany elsewhere), ids assigned here so that no row is read back; every
account shares one password hash (one argon2 run, not a million).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Table, func, select, text

from bench import world
from bench.import_entities import finess_numbers
from bench.servers import backends
from idp import migrations
from idp.app import create_app
from idp.core.audit import Actor
from idp.core.clock import utcnow
from idp.directory import services
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import AccountState, EntityType, ProfileState, RequestStatus
from idp.directory.folding import entity_search_text, fold
from idp.directory.identifiers import luhn_check_digit
from idp.directory.models import (
    Account,
    Entity,
    Habilitation,
    Profile,
    ProfileRequest,
    RequestRoute,
    Role,
)
from idp.extensions import db

ACTOR = Actor(label="bench")
ESTABLISHMENTS_PER_EJ = 10
BATCH = 10_000
# Pending requests on the administrator's entity: the same queue at every size (what
# grows is the directory around it), a few pages of 50.
OWN_QUEUE = 120
REQUESTS_EVERY = 50  # accounts per pending request elsewhere in the directory

_KINDS = ["EHPAD", "Centre hospitalier", "Foyer d'accueil médicalisé", "IME",
          "Maison d'accueil spécialisée", "SSIAD", "Clinique", "Établissement public de santé",
          "Centre médico-psychologique", "Résidence autonomie"]
_NAMES = ["Les Tilleuls", "Le Verger", "Saint-Joseph", "Sainte-Anne", "Les Glycines",
          "Jean-Moulin", "Pasteur", "L'Œuvre", "Les Cèdres", "La Roseraie", "Val-de-Loire",
          "Notre-Dame", "Les Peupliers", "Marie-Curie", "Bellevue", "Les Acacias"]
_CITIES = ["Saint-Étienne", "Besançon", "Lyon", "Dijon", "Nevers", "Auxerre", "Mâcon",
           "Châlon-sur-Saône", "Évry-Courcouronnes", "Aix-en-Provence", "Orléans", "Nîmes",
           "Bourg-en-Bresse", "Saint-Priest-en-Jarez", "Montbéliard", "Vesoul", "Dole",
           "Le Creusot", "Pontarlier", "Lons-le-Saunier"]
_GIVEN = ["Camille", "Élodie", "Léa", "Jean", "Marc", "Anne", "Sophie", "Thomas", "Zoé",
          "François", "Hélène", "Noël", "Agnès", "Loïc", "Inès", "Jérôme"]
_FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefèbvre", "Michel", "Garcia", "Lœuillet"]

# What people type in the « Entité » field (the autocomplete scenario cycles through it):
# common words, rarer ones, a name with its accent left out, a city, a FINESS prefix.
AUTOCOMPLETE_QUERIES = ["ehpad", "saint etienne", "tilleuls besancon", "marie curie",
                        "centre hosp", "foyer d'accueil", "250", "glycines dijon",
                        "etablissement public", "oeuvre", "roseraie nevers", "clinique"]


@dataclass(frozen=True)
class Directory:
    """What a run needs of the directory built: the administrator who reads the queue."""

    administrator: str  # identifier; the password is bench.world.PASSWORD
    accounts: int
    entities: int
    seconds: float


class Progress:
    """One line on stderr, rewritten: « accounts 120000/1000000 (12 %) 14 s »."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet, self.started = quiet, time.monotonic()

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self.started
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{what:<12} {done:>9}/{total} ({done * 100 // max(total, 1):3d} %)"
                         f" {elapsed:6.0f} s{end}")
        sys.stderr.flush()


def _next_id(connection: Connection, table: Table) -> int:
    return (connection.scalar(select(func.max(table.c.id))) or 0) + 1


def _write(connection: Connection, table: Table, columns: Sequence[str],
           rows: Iterable[tuple[Any, ...]], total: int, progress: Callable[..., None]) -> None:
    """Bulk insert `rows` (tuples of `columns`): COPY on PostgreSQL, else executemany."""
    done = 0
    rows = iter(rows)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.cursor()
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
                done += 1
                if done % BATCH == 0 and done < total:
                    progress(table.name, done, total)
    else:
        while batch := list(islice(rows, BATCH)):
            connection.execute(table.insert(), [dict(zip(columns, row, strict=True))
                                                for row in batch])
            done += len(batch)
            if done < total:
                progress(table.name, done, total)
    progress(table.name, total, total)


def _identifiers(count: int, taken: set[str]) -> Iterator[str]:
    """`count` distinct valid identifiers (seven digits and the Luhn digit), spread over
    the space as the random ones are, none of those `taken`."""
    low, span = 10**6, 9 * 10**6
    step = 7_919_993  # coprime with span: n -> n * step mod span visits each body once
    n = 0
    while count:
        body = str(low + (n * step) % span)
        n += 1
        identifier = body + luhn_check_digit(body)
        if identifier not in taken:
            count -= 1
            yield identifier


def build(connection: Connection, accounts: int, entities: int, password_hash: str,
          progress: Callable[..., None]) -> None:
    """Append the directory's bulk to the database of `connection` (in its transaction):
    `entities` entities, `accounts` accounts with one active profile and one role each,
    and pending requests (one for every REQUESTS_EVERY accounts)."""
    now = utcnow()
    tables = {m.__tablename__: m.__table__ for m in (Entity, Account, Profile, Habilitation,
                                                     ProfileRequest, RequestRoute)}
    first_entity = _next_id(connection, tables["entities"])
    numbers = finess_numbers()
    taken_finess = set(connection.scalars(select(Entity.finess).where(
        Entity.finess.is_not(None))))

    def entity_rows() -> Iterator[tuple[Any, ...]]:
        ej = None
        for n in range(entities):
            finess = next(numbers)
            while finess in taken_finess:
                finess = next(numbers)
            entity_id = first_entity + n
            city = _CITIES[n * 7 % len(_CITIES)]
            if n % ESTABLISHMENTS_PER_EJ == 0:
                ej = entity_id
                kind, name, parent = EntityType.EJ, f"Association {_NAMES[n % 16]} {n}", None
            else:
                kind, parent = EntityType.ET, ej
                name = f"{_KINDS[n // 3 % len(_KINDS)]} {_NAMES[n * 3 % len(_NAMES)]} {n}"
            departement = finess[:3] if finess.startswith("97") else finess[:2]
            yield (entity_id, finess, finess, kind.value, name, city, departement, parent,
                   parent, True, entity_search_text(finess, finess, name, city), now, now)

    _write(connection, tables["entities"],
           ("id", "code", "finess", "type", "name", "city", "departement", "parent_id",
            "managing_og_id", "active", "search_text", "created_at", "updated_at"),
           entity_rows(), entities, progress)

    first_account = _next_id(connection, tables["accounts"])
    taken = set(connection.scalars(select(Account.identifier)))
    identifiers = _identifiers(accounts, taken)

    def person(n: int) -> tuple[str, str]:
        return _GIVEN[n % len(_GIVEN)], f"{_FAMILY[n // 16 % len(_FAMILY)]}{n}"

    def account_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(accounts):
            given, family = person(n)
            yield (first_account + n, next(identifiers), password_hash, given, family,
                   f"agent{n}@bench.example", True, AccountState.ACTIVE.value,
                   fold(f"{family} {given}"), now, now)

    _write(connection, tables["accounts"],
           ("id", "identifier", "password_hash", "given_name", "family_name", "email",
            "email_verified", "state", "name_key", "created_at", "updated_at"),
           account_rows(), accounts, progress)

    first_profile = _next_id(connection, tables["profiles"])

    def entity_of(n: int) -> int:
        return first_entity + n % entities

    _write(connection, tables["profiles"],
           ("id", "account_id", "entity_id", "label", "state", "created_at", "updated_at"),
           ((first_profile + n, first_account + n, entity_of(n), "Agent",
             ProfileState.ACTIVE.value, now, now) for n in range(accounts)),
           accounts, progress)
    role = connection.scalar(select(Role.id).where(Role.domain_code == "TDBESMS",
                                                   Role.code == "LECTEUR"))
    _write(connection, tables["habilitations"], ("profile_id", "role_id", "granted_at"),
           ((first_profile + n, role, now) for n in range(accounts)), accounts, progress)

    count = accounts // REQUESTS_EVERY
    first_request = _next_id(connection, tables["profile_requests"])
    _requests(connection, tables, first_request, [entity_of(n * 7919) for n in range(count)],
              now, progress)
    _reset_sequences(connection, tables.values())


def _requests(connection: Connection, tables: dict[str, Table], first: int,
              entity_ids: Sequence[int], now: Any, progress: Callable[..., None]) -> None:
    """Pending plain requests of newcomers, one on each of `entity_ids`, routed there."""
    applications = json.dumps(["TDBESMS"])
    if connection.dialect.name != "postgresql":
        applications = ["TDBESMS"]  # type: ignore[assignment]  # the JSON type encodes

    def rows() -> Iterator[tuple[Any, ...]]:
        for n, entity_id in enumerate(entity_ids):
            given, family = _GIVEN[n % len(_GIVEN)], f"{_FAMILY[n % len(_FAMILY)]}{n}"
            yield (first + n, entity_id, True, False, given, family,
                   f"demande{first + n}@bench.example", "Agent", applications,
                   RequestStatus.PENDING.value, now)

    _write(connection, tables["profile_requests"],
           ("id", "entity_id", "new_account", "wants_ape", "given_name", "family_name",
            "email", "label", "applications", "status", "created_at"),
           rows(), len(entity_ids), progress)
    _write(connection, tables["profile_request_routes"], ("request_id", "entity_id"),
           ((first + n, entity_id) for n, entity_id in enumerate(entity_ids)),
           len(entity_ids), progress)


def _reset_sequences(connection: Connection, tables: Iterable[Table]) -> None:
    """Ids were given here: PostgreSQL's sequences must start after them."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        if "id" in table.c:
            connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table.name}))"))


def build_directory(accounts: int, entities: int, password: str,
                    quiet: bool = False) -> Directory:
    """In an app context on a migrated database holding the catalogue: the directory
    of `accounts` and `entities`, and its administrator (APE of an entity with a queue
    of OWN_QUEUE pending requests), committed."""
    started = time.monotonic()
    progress = Progress(quiet)
    entity = Entity(code="BENCH-ADMIN", type=EntityType.EJ, name="Banc d'essai Administration",
                    city="Dijon")
    db.session.add(entity)
    admin = services.create_account(given_name="Adèle", family_name="Administratrice",
                                    email="adele@bench.example", password=password,
                                    actor=ACTOR, password_min_length=8)
    profile = services.create_profile(admin, entity, label="APE", actor=ACTOR)
    services.grant(profile, services.get_role("ADMINISTRATION", "APE"), ACTOR)
    db.session.flush()
    connection = db.session.connection()
    build(connection, accounts, entities, admin.password_hash or "", progress)
    _requests(connection, {m.__tablename__: m.__table__
                           for m in (ProfileRequest, RequestRoute)},
              _next_id(connection, ProfileRequest.__table__), [entity.id] * OWN_QUEUE,
              utcnow(), progress)
    _reset_sequences(connection, [ProfileRequest.__table__])
    db.session.commit()
    if connection.dialect.name == "postgresql":
        # As autovacuum leaves a table after a bulk load: statistics taken, and the GIN
        # index's pending entries merged (each search would otherwise read them all).
        with db.engine.connect() as maintenance:
            maintenance.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE"))
    return Directory(admin.identifier, accounts, entities, time.monotonic() - started)


def fill(settings: dict[str, dict[str, Any]], accounts: int, entities: int) -> Directory:
    """Build the directory into the migrated database of `settings` (the catalogue
    loaded, as bench.world.build leaves it); print how long it took."""
    app = create_app(settings)
    with app.app_context():
        built = build_directory(accounts, entities, world.PASSWORD)
        db.session.remove()
        db.engine.dispose()
    print(f"directory: {built.accounts} accounts, {built.entities} entities built in "
          f"{built.seconds:.1f} s", flush=True)
    return built


@dataclass
class Browsers:
    """The signed-in browsers of a run: the person of the token scenarios, and the
    administrator who reads his queue."""

    person: world.Browser
    administrator: world.Browser


def scenario_data(scenario: str, browsers: Browsers, connections: int) -> dict[str, str]:
    """What the scenario's Lua script needs: this module's scenarios, or bench.world's."""
    if scenario == "entity_autocomplete":
        return {"queries": ",".join(quote(q) for q in AUTOCOMPLETE_QUERIES)}
    if scenario == "request_queue":
        return {"cookie": browsers.administrator.cookie}
    return world.scenario_data(scenario, browsers.person, connections)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench build",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--database-url", help="a database to fill (migrated here); "
                        "default: a throw-away PostgreSQL")
    args = parser.parse_args(argv)

    def build_into(url: str) -> None:
        migrations.upgrade(url)
        with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp:
            settings: dict[str, dict[str, Any]] = {
                "database": {"url": url},
                "server": {"instance_path": tmp, "secret_key": "bench"},
                "keys": {"passphrase": "bench"}}
            with create_app(settings).app_context():
                load_catalogue(ACTOR)
                db.session.commit()
                db.session.remove()
                db.engine.dispose()
            fill(settings, args.accounts, args.entities)

    if args.database_url:
        build_into(args.database_url)
        return
    with backends() as servers:
        servers.postgres.create_database("build")
        build_into(servers.postgres.url("build"))
