"""Shared fixtures: real PostgreSQL, Redis, SMTP and Chromium, and app factories.

Expensive servers start once per test session (per xdist worker); every test gets a
fresh database: a copy of a migrated SQLite file, or a PostgreSQL database cloned from a
migrated template. See ../shared/testing-notes.md for why PostgreSQL runs as `postgres`.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from idp.core.audit import Actor
from idp.directory.catalogue import load_catalogue
from idp.extensions import db
from idp.ops.logs import RequestLogHandler
from idp.outbox import service as outbox
from tests.support import services as support
from tests.support.apps import AppFactory, app_factory, app_server
from tests.support.oidc import Scene, Serve, scene, serving
from tests.support.receivers import Receiver, Receivers

pytest_plugins = ["tests.support.browser"]


# --- databases ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test copies it."""
    from idp import migrations

    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[support.PostgresServer]:
    server = support.PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: support.PostgresServer) -> str:
    """Name of a PostgreSQL template database migrated once."""
    from idp import migrations

    name = "idp_template"
    pg_server.create_database(name)
    migrations.upgrade(pg_server.url(name))
    return name


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "idp.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgresql_url(pg_server: support.PostgresServer, pg_template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_server.create_database(name, template=pg_template)
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


# --- redis ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[support.RedisServer]:
    server = support.RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: support.RedisServer) -> Iterator[str]:
    yield redis_server.url
    redis_server.flushall()


# --- smtp -----------------------------------------------------------------------------


@pytest.fixture
def smtp_sink() -> Iterator[support.SmtpSink]:
    sink = support.SmtpSink.start()
    try:
        yield sink
    finally:
        sink.stop()


# --- applications ---------------------------------------------------------------------


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build apps on a given database (and optionally Redis); disposes them afterwards."""
    with app_factory(tmp_path) as factory:
        yield factory


@pytest.fixture
def app(make_app: AppFactory, database_url: str) -> Iterator[Flask]:
    """The provider on SQLite and on PostgreSQL, inside an app context."""
    application = make_app(database_url)
    with application.app_context():
        yield application


@pytest.fixture
def sqlite_app(make_app: AppFactory, sqlite_url: str) -> Iterator[Flask]:
    """The provider on SQLite only, for tests whose subject is not the database."""
    application = make_app(sqlite_url)
    with application.app_context():
        yield application


@pytest.fixture
def catalogue(app: Flask) -> Flask:
    """The provider (SQLite and PostgreSQL) with the catalogue of domains and roles."""
    load_catalogue(Actor.system())
    db.session.commit()
    return app


@pytest.fixture
def sqlite_catalogue(sqlite_app: Flask) -> Flask:
    load_catalogue(Actor.system())
    db.session.commit()
    return sqlite_app


@pytest.fixture
def live_server() -> Iterator[Callable[[Flask], str]]:
    """Serve apps over real HTTP on 127.0.0.1 (random port); returns their base URLs."""
    with app_server() as serve_app:
        yield lambda application: serve_app(lambda _base: application)[1]


@pytest.fixture
def serve(make_app: AppFactory) -> Iterator[Serve]:
    """`serve(database_url, redis_url="", **sections)`: a provider of its own for the test,
    served over HTTP, its issuer its base URL. At the end, its deliveries must have
    settled (a back-channel call left running would outlive the test)."""
    with serving(make_app) as start:
        yield start
        assert outbox.wait_idle(20), "deliveries still running"


@pytest.fixture
def receiver(live_server: Callable[[Flask], str]) -> Receivers:
    """`receiver(failures=0, delay=0.0)` serves a back-channel logout receiver; returns it
    and its base URL."""

    def start(failures: int = 0, delay: float = 0.0) -> tuple[Receiver, str]:
        rec = Receiver(failures=failures, delay=delay)
        return rec, live_server(rec.app)

    return start


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, with test-sized costs: production costs (about 0.2 s a hash here)
    would make every login and account creation of the suite slow. Every app made in
    the test applies them (they replace the configuration's defaults); a test marked
    `production_hashing` keeps the real ones."""
    if request.node.get_closest_marker("production_hashing"):
        return
    from argon2 import PasswordHasher

    from idp.config import DEFAULTS
    from idp.directory import passwords

    cheap = {"password_hash_time_cost": 1, "password_hash_memory_kib": 1024,
             "password_hash_parallelism": 1}
    for key, value in cheap.items():
        monkeypatch.setitem(DEFAULTS["security"], key, value)
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests only ever talk to 127.0.0.1; a proxy in the environment must not intercept.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("IDP_CONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_request_log_left_behind() -> Iterator[None]:
    """An app sets its log handler on the root logger when it serves its first request:
    the next test starts without it, as a fresh process would (a command's stderr must
    not get the lines of an app served earlier)."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, RequestLogHandler)]:
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def _plain_http_for_oauthlib(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http:// URLs unless told; the test provider listens on 127.0.0.1.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


# --- a provider served over HTTP with its relying parties (tests/support/oidc.py) -------
# One per test module and backend: the module's tests share it as a deployment would.


@pytest.fixture(scope="module")
def sqlite_scene(tmp_path_factory: pytest.TempPathFactory,
                 sqlite_template: Path) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("scene-sqlite")
    shutil.copyfile(sqlite_template, root / "idp.sqlite3")
    with scene(root, f"sqlite:///{root / 'idp.sqlite3'}") as built:
        yield built


@pytest.fixture(scope="module")
def postgresql_scene(tmp_path_factory: pytest.TempPathFactory, pg_server: support.PostgresServer,
                     pg_template: str) -> Iterator[Scene]:
    name = f"scene_{uuid.uuid4().hex[:12]}"
    pg_server.create_database(name, template=pg_template)
    try:
        with scene(tmp_path_factory.mktemp("scene-pg"), pg_server.url(name)) as built:
            yield built
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def redis_scene(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
                redis_server: support.RedisServer) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("scene-redis")
    shutil.copyfile(sqlite_template, root / "idp.sqlite3")
    with scene(root, f"sqlite:///{root / 'idp.sqlite3'}", redis_server.url) as built:
        yield built


@pytest.fixture
def sqlite(sqlite_scene: Scene) -> Scene:
    return sqlite_scene


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def any_scene(request: pytest.FixtureRequest) -> Scene:
    """For the core flows: SQLite with the embedded store, PostgreSQL, SQLite + Redis."""
    return request.getfixturevalue(f"{request.param}_scene")
