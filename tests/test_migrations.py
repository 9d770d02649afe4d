"""The migrations build, from an empty database, exactly the schema the models describe,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from idp import migrations
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
        with engine.connect() as connection:
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
    assert response.get_json() == {"status": "ok"}
