"""The migrations build, from an empty database, exactly the schema the models describe,
on SQLite and on PostgreSQL, and carry the data they move."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from idp import migrations
from idp.outbox.models import OutboxItem
from idp.schema import metadata
from tests.support.services import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no table at all (not a copy of the migrated template)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"m_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            # SQLite's reflection cannot read an index on an expression (lower(email)):
            # PostgreSQL's comparison checks that one.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified")
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def head_revision() -> str:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def test_migrations_build_the_models_schema_from_nothing(empty_database: str) -> None:
    assert migrations.current(empty_database) is None
    migrations.upgrade(empty_database)
    assert migrations.current(empty_database) == head_revision()
    assert schema_differences(empty_database) == []

    engine = create_engine(empty_database)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
    assert {"accounts", "profiles", "entities", "habilitations", "audit_events",
            "signing_keys", "short_lived"} <= tables


def test_upgrading_twice_is_harmless(empty_database: str) -> None:
    migrations.upgrade(empty_database)
    migrations.upgrade(empty_database)
    assert migrations.current(empty_database) == head_revision()
    assert schema_differences(empty_database) == []


def test_the_last_migration_goes_down_and_up_again(empty_database: str) -> None:
    """A release can be rolled back: the newest migration's downgrade leaves the schema
    the one before it made (the lower(email) index included, which SQLite's table
    copies lose), and upgrading again gives the models' schema."""
    migrations.upgrade(empty_database)
    script = ScriptDirectory.from_config(migrations.alembic_config(empty_database))
    previous = script.get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    command.downgrade(migrations.alembic_config(empty_database), previous)
    assert migrations.current(empty_database) == previous
    engine = create_engine(empty_database)
    try:
        with engine.connect() as connection:  # SQLite's reflection skips expression indexes
            indexes = set(connection.scalars(text(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'accounts'"
                if engine.dialect.name == "sqlite" else
                "SELECT indexname FROM pg_indexes WHERE tablename = 'accounts'")))
    finally:
        engine.dispose()
    assert "ix_accounts_email_lower" in indexes
    migrations.upgrade(empty_database)
    assert schema_differences(empty_database) == []


def test_the_comparison_does_see_a_missing_table(empty_database: str) -> None:
    # The check above can fail: on an empty database every table is reported missing.
    differences = schema_differences(empty_database)
    added = {diff[1].name for diff in differences if diff[0] == "add_table"}  # type: ignore[index]
    assert added == set(metadata.tables)


def test_the_migration_history_is_a_single_line() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert [rev.revision for rev in script.walk_revisions()][-1] == "0001"


def test_the_health_check_answers_on_a_migrated_database(make_app, database_url: str) -> None:  # type: ignore[no-untyped-def]
    response = make_app(database_url).test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"] == "ok"


def _utc(value: datetime) -> datetime:
    # Read without the models' UTCDateTime: SQLite gives naive UTC, PostgreSQL aware.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _unsigned_token(claims: dict[str, object]) -> str:
    """A JWT-shaped logout token as revision 0003 stored them (the migration only reads
    its claims)."""
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'logout+jwt'})}.{part(claims)}.c2lnbmF0dXJl"


def test_undelivered_mail_and_logout_tokens_move_into_the_one_outbox(
        empty_database: str) -> None:
    migrations.upgrade(empty_database, "0003")
    queued = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    engine = create_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO clients (client_id, name, domains, redirect_uris, "
                "post_logout_redirect_uris, token_endpoint_auth_method, grant_types, "
                "allowed_scopes, first_party, id_token_signed_response_alg, disabled, "
                "created_at, updated_at) VALUES ('tdb', 'TdB', '[]', '[]', '[]', 'none', "
                "'[]', '[]', false, 'RS256', false, :at, :at)"), {"at": queued})
            conn.execute(text(
                "INSERT INTO mail_outbox (recipient, subject, body, html, created_at, "
                "attempts, next_attempt_at, sent_at, last_error) VALUES "
                "('elodie@example.test', 'En attente', 'Corps', NULL, :at, 2, :next, NULL, "
                "'Unreachable: down'), "
                "('paul@example.test', 'Parti', 'Corps', NULL, :at, 1, NULL, :at, NULL)"),
                {"at": queued, "next": queued + timedelta(minutes=2)})
            conn.execute(text(
                "INSERT INTO backchannel_deliveries (client_id, uri, logout_token, attempts, "
                "next_attempt_at, delivered_at, last_error, created_at) VALUES "
                "('tdb', 'https://tdb.example.fr/bcl', :waiting, 1, :next, NULL, 'HTTP 503', "
                ":at), ('tdb', 'https://tdb.example.fr/bcl', :given_up, 8, :at, NULL, "
                "'HTTP 503', :at), ('tdb', 'https://tdb.example.fr/bcl', :sent, 1, :at, :at, "
                "NULL, :at)"),
                {"at": queued, "next": queued + timedelta(seconds=10),
                 "waiting": _unsigned_token({"sid": "s1", "sub": "463471", "jti": "j1"}),
                 "given_up": _unsigned_token({"sid": "s2", "jti": "j2"}),
                 "sent": _unsigned_token({"sid": "s3", "jti": "j3"})})

        migrations.upgrade(empty_database)

        with engine.connect() as conn:
            rows = conn.execute(select(OutboxItem.__table__)
                                .order_by(OutboxItem.channel, OutboxItem.attempts)).all()
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert not {"mail_outbox", "backchannel_deliveries"} & tables
    moved = [(r.channel, r.recipient, r.subject, r.payload, r.attempts, r.last_error,
              r.abandoned_at is not None) for r in rows]
    assert moved == [
        ("backchannel", "tdb", "Logout of session s1",
         {"uri": "https://tdb.example.fr/bcl", "sid": "s1", "sub": "463471", "jti": "j1"},
         1, "HTTP 503", False),
        ("backchannel", "tdb", "Logout of session s2", None, 8, "HTTP 503", True),
        ("mail", "elodie@example.test", "En attente", {"body": "Corps", "html": None},
         2, "Unreachable: down", False),
    ]
    waiting_mail = rows[2]
    assert _utc(waiting_mail.created_at) == queued
    assert _utc(waiting_mail.next_attempt_at) == queued + timedelta(minutes=2)
    assert rows[1].next_attempt_at is None
