"""Building provider apps for the tests, and disposing of them afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from idp.app import create_app
from idp.extensions import db

AppFactory = Callable[..., Flask]


@contextmanager
def app_factory(instance_root: Path) -> Iterator[AppFactory]:
    """`make_app(database_url, redis_url="", **sections)` builds a provider with test
    secrets in its own instance folder; every app built is disposed of on exit (pooled
    connections left open would warn, and warnings are errors here)."""
    built: list[Flask] = []

    def make_app(database_url: str, redis_url: str = "", **sections: dict[str, Any]) -> Flask:
        overrides: dict[str, dict[str, Any]] = {
            "server": {"instance_path": str(instance_root / f"instance{len(built)}"),
                       "secret_key": "test-secret-key", "issuer": "http://idp.test"},
            "database": {"url": database_url},
            "redis": {"url": redis_url},
            "keys": {"passphrase": "test-passphrase"},
        }
        for section, values in sections.items():
            overrides.setdefault(section, {}).update(values)
        app = create_app(overrides)
        app.config["TESTING"] = True
        built.append(app)
        return app

    try:
        yield make_app
    finally:
        for app in built:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
