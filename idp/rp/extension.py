"""`PlageRP`: the Flask extension a relying application installs.

    plage = PlageRP()

    def create_app():
        app = Flask(__name__)
        app.config.update(PLAGE_ISSUER=..., PLAGE_CLIENT_ID=..., PLAGE_CLIENT_SECRET=...,
                          PLAGE_DATABASE_URL="sqlite:///app.sqlite3")
        plage.init_app(app)
        return app

It installs server-side sessions in the application's database, the login pages under
/plage, the back-channel logout endpoint, template helpers and `flask plage` commands.
Pairing with local accounts is on once the application gives its two hooks
(`@plage.local_accounts_finder` and `@plage.local_account_loader`).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from idp.rp import flow
from idp.rp.cli import plage_cli
from idp.rp.models import create_tables
from idp.rp.provider import Provider
from idp.rp.sessions import SqlSessionInterface
from idp.rp.state import (
    DEFAULTS,
    EXTENSION_KEY,
    AccountFinder,
    AccountLoader,
    Hooks,
    KitState,
    kit,
)
from idp.rp.views import bp


class PlageRP:
    """Sign in with PLAGE, pair accounts, protect pages (see `idp.rp.access.require`)."""

    def __init__(self, app: Flask | None = None, *, engine: Engine | None = None) -> None:
        self.hooks = Hooks()
        if app is not None:
            self.init_app(app, engine=engine)

    def init_app(self, app: Flask, *, engine: Engine | None = None) -> None:
        """Install the kit on `app`; its tables go to `engine` (or PLAGE_DATABASE_URL)."""
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        if not app.config["PLAGE_APP_NAME"]:
            app.config["PLAGE_APP_NAME"] = app.name
        missing = [k for k in ("PLAGE_ISSUER", "PLAGE_CLIENT_ID") if not app.config[k]]
        if engine is None and not app.config["PLAGE_DATABASE_URL"]:
            missing.append("PLAGE_DATABASE_URL")
        if missing:
            raise RuntimeError(f"PlageRP needs {', '.join(missing)}")
        if app.config["SESSION_COOKIE_NAME"] == "session":  # Flask's default: be specific,
            # as cookies ignore ports and several applications may share a host name.
            client = re.sub(r"[^A-Za-z0-9_-]", "_", app.config["PLAGE_CLIENT_ID"])
            app.config["SESSION_COOKIE_NAME"] = f"{client}_session"
        if engine is None:
            engine = create_engine(app.config["PLAGE_DATABASE_URL"], pool_pre_ping=True)
        create_tables(engine)
        provider = Provider(app.config["PLAGE_ISSUER"],
                            timeout=app.config["PLAGE_HTTP_TIMEOUT"],
                            unknown_kid_interval=app.config["PLAGE_UNKNOWN_KID_INTERVAL"])
        app.extensions[EXTENSION_KEY] = KitState(app.config, engine, provider, self.hooks)
        app.session_interface = SqlSessionInterface(engine,
                                                    app.config["PLAGE_SESSION_LIFETIME"])
        app.register_blueprint(bp, url_prefix=app.config["PLAGE_URL_PREFIX"])
        csrf = app.extensions.get("csrf")  # Flask-WTF: the provider posts no CSRF token
        if csrf is not None:
            csrf.exempt(f"{bp.import_name}.backchannel_logout")
        app.context_processor(self._template_helpers)
        app.cli.add_command(plage_cli)

    @staticmethod
    def _template_helpers() -> dict[str, Any]:
        return {
            "plage_identity": flow.current_identity,
            "plage_local_account": flow.current_local_account,
            "plage_csrf_token": flow.csrf_token,
            "plage_app_name": lambda: kit().app_name,
            "plage_support": lambda: (kit().setting("SUPPORT_LABEL"),
                                      kit().setting("SUPPORT_EMAIL")),
        }

    def local_accounts_finder(self, hook: AccountFinder) -> AccountFinder:
        """Decorator: `hook(identity) -> [LocalAccount, ...]`, called when a PLAGE
        identifier arrives for the first time and the person clicks Valider: match an
        invitation (by email...), create an account, or return [] (pairing impossible)."""
        self.hooks.find_accounts = hook
        return hook

    def local_account_loader(self, hook: AccountLoader) -> AccountLoader:
        """Decorator: `hook(key) -> LocalAccount | None`, the local account of a pairing
        (None if the application deleted it)."""
        self.hooks.load_account = hook
        return hook
