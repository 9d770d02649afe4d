"""Relying applications built with the kit (idp.rp), served over HTTP beside the provider,
and a browser that follows redirections through all of them.

An application's URL must be known before it is built (its redirect URI is registered
with the provider), so `serve_app` binds the socket first and builds the app afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from flask import Flask

from idp.extensions import db
from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.apps import ServeApp
from tests.support.apps import app_server as bound_app_server
from tests.support.oidc import Arrival, Browser, Page, Provider, serving


def _dispose_kit(app: Flask) -> None:
    state = app.extensions.get("plage_rp")
    if state is not None:  # pooled connections closed, not garbage-collected
        state.engine.dispose()


@contextmanager
def app_server() -> Iterator[ServeApp]:
    """`serve(build)`: serve `build(base_url)` on a free port of 127.0.0.1 (apps of the
    kit get their database connections closed on exit)."""
    with bound_app_server(on_close=_dispose_kit) as serve:
        yield serve


class AppBrowser(Browser):
    """A person's browser across the provider and relying applications: it follows every
    redirection between them and stops only at a page."""

    def __init__(self, provider: Provider, apps: Iterable[str]) -> None:
        super().__init__(provider)
        self.apps = [base.rstrip("/") + "/" for base in apps]

    def _ours(self, url: str) -> bool:
        return super()._ours(url) or any(url.startswith(base) for base in self.apps)

    def page(self, url: str, data: dict[str, str] | None = None) -> Page:
        result = self.open(url, data=data)
        assert isinstance(result, Page), f"left the applications: {result}"
        return result

    def sign_in_to(self, url: str, identifier: str, profile: int | None = None) -> Page:
        """Open an application's page, sign in at the provider, return where it lands."""
        result = self.authorize(url, identifier, profile=profile)
        assert not isinstance(result, Arrival), result
        return result

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)


def kit_app(issuer: str, client_id: str, client_secret: str | None, database_url: str,
            **config: Any) -> Flask:
    """A minimal application using the kit, like the README's example."""
    from flask import jsonify, render_template_string, request

    from idp.rp import (
        InvalidToken,
        PlageRP,
        current_identity,
        login_required,
        require,
        validate_access_token,
    )
    from idp.rp.flow import signed_in

    app = Flask("kit_test_app")
    app.config.update(SECRET_KEY="kit-test",
                      PLAGE_ISSUER=issuer, PLAGE_CLIENT_ID=client_id,
                      PLAGE_CLIENT_SECRET=client_secret, PLAGE_DATABASE_URL=database_url,
                      PLAGE_APP_NAME="Application de test", **config)
    PlageRP(app)

    @app.get("/")
    def home() -> str:
        return render_template_string(
            "<form method=post action='{{ url_for(\"plage_rp.logout\") }}'>"
            "<input type=hidden name=csrf_token value='{{ plage_csrf_token() }}'>"
            "<button>Se déconnecter</button></form>")

    @app.get("/moi")
    @login_required
    def me() -> Any:
        identity = current_identity()
        assert identity is not None
        return jsonify(sub=identity.sub, name=identity.display_name, sid=identity.sid,
                       entity=identity.entity, roles=identity.roles,
                       profile=identity.profile)

    @app.get("/jetons")
    @login_required
    def tokens() -> Any:
        login = signed_in() or {}
        return jsonify({k: login.get(k) for k in ("access_token", "id_token",
                                                  "refresh_token")})

    @app.get("/tdb")
    @require(domain="TDBESMS", entity_types={"OG", "ET", "ARS", "CD", "NAT"})
    def dashboard() -> str:
        return "Tableau de bord"

    @app.get("/api/moi")
    def api() -> Any:
        header = request.headers.get("Authorization", "")
        try:
            claims = validate_access_token(header.removeprefix("Bearer "), issuer, client_id)
        except InvalidToken as exc:
            return jsonify(error="invalid_token", error_description=str(exc)), 401
        return jsonify(claims)

    return app


def serve_demo(op: Provider, serve: Callable[[Callable[[str], Flask]], tuple[Flask, str]],
               factory: Callable[..., Flask], client: Any, instance: str,
               **overrides: Any) -> tuple[Flask, str]:
    """Serve a demo application (demo_apps.saga or .tdb), registered with the provider by
    demo_apps.registration as `idp demo` does, its database under `instance` (and no
    configuration file: a developer's instance/demo-apps.toml must not leak in)."""
    from demo_apps.registration import ensure_client
    from idp.core.audit import Actor
    from idp.extensions import db

    def build(base: str) -> Flask:
        def register() -> str:
            secret = ensure_client(client, base, None, Actor(label="test"))
            db.session.commit()
            return secret

        secret = op.run(register)
        return factory({"provider_url": op.issuer, "client_id": client.client_id,
                        "client_secret": secret, "instance_path": instance, **overrides},
                       config_path=Path(os.devnull))

    return serve(build)


@dataclass
class Eidas2World:
    """A provider with the ANCRE guide's people and a kit application that requires
    eidas2 (Tableau de bord ESMS): the second-factor browser tests' world."""

    op: Provider
    app_base: str
    identifier: str  # Élodie Martin, who has no second factor yet

    def sign_in(self, page: Any, start: str) -> None:
        """Her identifier and password in PLAGE's login page, reached from `start` (the
        login page itself, or a page of the application that sends her there)."""
        page.goto(start)
        page.get_by_label("Identifiant Plage").fill(self.identifier)
        page.get_by_label("Mot de passe").fill(d.PASSWORD)
        page.get_by_role("button", name="Se connecter").click()

    def id_token_claims(self, page: Any) -> dict[str, Any]:
        """The claims of the ID token the application holds for her (unverified: the
        kit verified it)."""
        page.goto(self.app_base + "/jetons")
        id_token = page.evaluate("() => JSON.parse(document.body.innerText).id_token")
        return jwt.decode(id_token, options={"verify_signature": False})


@contextmanager
def eidas2_world(make_app: Callable[..., Flask], database_url: str, tmp_path: Path,
                 host: str = "127.0.0.1") -> Iterator[Eidas2World]:
    """`host`: `localhost` where WebAuthn is used (it wants a domain, 127.0.0.1 is none)."""
    with serving(make_app, host=host) as serve, app_server() as serve_app:
        op = serve(database_url)
        identifier = op.run(lambda: d.ancre_world().person.identifier)

        def build(base: str) -> Flask:
            def register() -> tuple[str, str | None]:
                row, secret = d.client("Tableau de bord ESMS", ["TDBESMS"],
                                       [f"{base}/plage/callback"], required_acr="eidas2")
                db.session.commit()
                return row.client_id, secret

            client_id, secret = op.run(register)
            return kit_app(op.issuer, client_id, secret, f"sqlite:///{tmp_path / 'rp.sqlite3'}")

        _, base = serve_app(build)
        yield Eidas2World(op, base, identifier)
        assert outbox.wait_idle(20)
