"""Building provider apps for the tests, and disposing of them afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from idp.app import create_app
from idp.extensions import db
from idp.outbox import service as outbox

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
        outbox.wait_idle()  # a background send must not outlive its app's database
        for app in built:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


ServeApp = Callable[[Callable[[str], Flask]], tuple[Flask, str]]


@contextmanager
def app_server(on_close: Callable[[Flask], None] | None = None,
               host: str = "127.0.0.1") -> Iterator[ServeApp]:
    """`serve(build)` serves `build(base_url)` on a free port of 127.0.0.1.

    The socket is bound first, so the app is built knowing its own URL (an issuer, a
    redirect URI). On exit every server stops, then `on_close(app)` runs for each app.
    `host` names the server in that URL: `localhost` where the browser must see a
    secure context with a domain (WebAuthn), 127.0.0.1 otherwise."""
    from werkzeug.serving import make_server

    running: list[tuple[Any, threading.Thread]] = []

    def serve(build: Callable[[str], Flask]) -> tuple[Flask, str]:
        server = make_server("127.0.0.1", 0, lambda environ, start: [], threaded=True)
        base = f"http://{host}:{server.server_port}"
        app = build(base)
        server.app = app
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        running.append((server, thread))
        return app, base

    try:
        yield serve
    finally:
        for server, thread in running:
            server.shutdown()
            thread.join(5)
            server.server_close()
            if on_close is not None:
                on_close(server.app)
