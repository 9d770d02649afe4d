"""Benchmark of Historique and Revue des habilitations on a log of the sector's size.

    python bench/audit_history.py [--events 2000000] [--entities 10000] [--explain]

Starts a throw-away PostgreSQL (Debian's binaries), migrates it, fills it with SQL
(`generate_series`): entities, one account and about 1.5 profiles per ten entity
rows... (see `fill`), then the audit log: events about profiles (with their entity)
and about accounts (without), spread over two years, and a grant (an application
sign-in) for most profiles. Then it times the queries the pages run, each the median
of five runs, and prints them (with the plan of each under --explain):

- a national administrator's first page, a page deep in the log (keyset), and an
  action filter;
- an APE's first page (his entity's events and its people's), a page deep in it, and
  the filter on a person;
- the review of one entity (profiles with no sign-in for 6 months, administrators), and
  the count of the national report.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from idp import migrations
from idp.app import create_app
from idp.clients.models import Client
from idp.core.clock import utcnow
from idp.extensions import db
from idp.oversight import service
from tests.support.services import PostgresServer

FILL = """
INSERT INTO entities (id, code, type, name, active, created_at, updated_at)
  SELECT i, 'E' || i, 'ET', 'Etablissement ' || i, true, now(), now()
  FROM generate_series(1, :entities) i;
INSERT INTO accounts (id, identifier, given_name, family_name, email, email_verified, state,
                      name_key, created_at, updated_at, last_login_at)
  SELECT i, (100000 + i)::text, 'Prénom' || i, 'Nom' || i, 'p' || i || '@example.test',
         true, 'actif', 'nom' || i, now(), now(), now() - (i % 400) * interval '1 day'
  FROM generate_series(1, :accounts) i;
INSERT INTO profiles (id, account_id, entity_id, label, state, created_at, updated_at)
  SELECT i, 1 + (i % :accounts), 1 + (i % :entities), 'Profil ' || i, 'actif',
         now() - interval '2 years', now()
  FROM generate_series(1, :profiles) i;
INSERT INTO grants (id, client_id, account_id, profile_id, scope, amr, offline, created_at)
  SELECT md5(i::text), 'bench-app', 1 + (i % :accounts), i, 'openid', '[]', false,
         now() - (i % 365) * interval '1 day'
  FROM generate_series(1, :profiles) i WHERE i % 5 <> 0;
INSERT INTO audit_events (at, actor_id, actor, action, target_type, target_id, entity_id,
                          ip, details)
  SELECT now() - (i % 63072000) * interval '1 second', 1 + (i % :accounts),
         (100000 + 1 + (i % :accounts))::text,
         CASE WHEN k < 3 THEN 'login.success'
              WHEN k < 8 THEN 'habilitation.grant' ELSE 'profile.contact' END,
         CASE WHEN k < 3 THEN 'account' ELSE 'profile' END,
         CASE WHEN k < 3 THEN (100000 + 1 + (i * 7919 % :accounts))::text
              ELSE (1 + (i * 7919 % :profiles))::text END,
         CASE WHEN k < 3 THEN NULL ELSE 1 + ((1 + (i * 7919 % :profiles)) % :entities) END,
         '192.0.2.1', '{}'
  FROM (SELECT i::bigint AS i, (hashint4(i) & 1023) % 10 AS k
        FROM generate_series(1, :events) i) AS generated;
ANALYZE;
"""


def fill(entities: int, events: int) -> dict[str, int]:
    sizes = {"entities": entities, "accounts": entities * 10, "profiles": entities * 15,
             "events": events}
    db.session.add(Client(client_id="bench-app", name="Bench", domains=["ANCRE"],
                          redirect_uris=["https://app.example/cb"],
                          token_endpoint_auth_method="none"))
    db.session.flush()
    for statement in FILL.split(";\n"):
        if statement.strip():
            db.session.execute(text(statement), {k: v for k, v in sizes.items()
                                                 if f":{k}" in statement})
    db.session.commit()
    return sizes


def timed(work: Callable[[], Any]) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        work()
        runs.append((time.perf_counter() - start) * 1000)
        db.session.rollback()
    return statistics.median(runs)


def explain(query: Any) -> str:
    sql = str(query.compile(dialect=postgresql.dialect(),
                            compile_kwargs={"literal_binds": True}))
    plan = db.session.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql))
    return "\n".join("    " + row[0] for row in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    server = PostgresServer.start()
    try:
        server.create_database("bench")
        url = server.url("bench")
        migrations.upgrade(url)
        app = create_app({"database": {"url": url}})
        with app.app_context():
            start = time.perf_counter()
            sizes = fill(args.entities, args.events)
            print(f"filled {sizes} in {time.perf_counter() - start:.0f} s")
            run(args.explain)
            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()


def run(with_plans: bool) -> None:
    everything = service.HistoryFilter()
    middle = db.session.scalar(text("SELECT id FROM audit_events ORDER BY at DESC "
                                    "OFFSET 1000000 LIMIT 1"))
    entity = [42]
    entity_middle = service.history_page(entity, everything, None, 200)[0][-1].id
    person = db.session.scalar(text("SELECT identifier FROM accounts WHERE id = 420"))
    own, people = db.session.execute(text(
        "SELECT count(*) FILTER (WHERE entity_id = 42), count(*) FILTER (WHERE "
        "target_type = 'account' AND target_id IN (SELECT a.identifier FROM accounts a "
        "JOIN profiles p ON p.account_id = a.id WHERE p.entity_id = 42)) "
        "FROM audit_events")).one()
    print(f"entity 42: {own} events of its own, {people} of its people's accounts")
    cutoff = service.months_before(utcnow(), 6)
    cases: list[tuple[str, Callable[[], Any], Any]] = [
        ("national, first page", lambda: service.history_page(None, everything, None, 50),
         service.history_query(None, everything, None, 51)),
        ("national, a page 1,000,000 events deep",
         lambda: service.history_page(None, everything, middle, 50), None),
        ("national, action profile.contact, 30 days",
         lambda: service.history_page(None, service.HistoryFilter(
             action="profile.contact", since=utcnow() - timedelta(days=30)), None, 50), None),
        ("one entity, first page", lambda: service.history_page(entity, everything, None, 50),
         service.history_query(entity, everything, None, 51)),
        ("one entity, a page 200 events deep",
         lambda: service.history_page(entity, everything, entity_middle, 50), None),
        ("one entity, one person", lambda: service.history_page(
            entity, service.HistoryFilter(concerned=person), None, 50),
         service.history_query(entity, service.HistoryFilter(concerned=person), None, 51)),
        ("national, one person by name", lambda: service.history_page(
            None, service.HistoryFilter(concerned="Prénom420 Nom420"), None, 50),
         service.history_query(None, service.HistoryFilter(concerned="Nom420 Prénom420"),
                               None, 51)),
        ("one entity, export of 1,000 rows", lambda: sum(
            len(c) for c in service.history_chunks(entity, everything, 1000)), None),
        ("review of one entity: no sign-in for 6 months",
         lambda: db.session.execute(service.inactive_profiles(entity, cutoff).limit(50)).all(),
         service.inactive_profiles(entity, cutoff).limit(50)),
        ("review of one entity: administrators",
         lambda: db.session.execute(service.administrator_profiles(entity).limit(50)).all(),
         None),
        ("national report: count of profiles with no sign-in",
         lambda: service.count(service.inactive_profiles(None, cutoff)), None),
    ]
    for title, work, query in cases:
        print(f"{timed(work):9.1f} ms  {title}")
        if with_plans and query is not None:
            print(explain(query))


if __name__ == "__main__":
    main()
