"""What both demo applications share: a Flask app with the kit, its own database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app, render_template
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from idp.rp import PlageRP

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SHARED_TEMPLATES = HERE / "templates"
ERRORS = {
    400: ("Requête invalide", "La requête envoyée est incomplète ou invalide."),
    403: ("Accès refusé", "Vous n'avez pas les permissions suffisantes pour accéder à "
                          "cette page."),
    404: ("Page introuvable", "La page demandée n'existe pas."),
    405: ("Méthode non autorisée", "Cette page ne peut pas être appelée de cette façon."),
}
DB_KEY = "demo.db"
ENGINE_KEY = "demo.engine"


def create_demo_app(import_name: str, settings: dict[str, Any], plage: PlageRP,
                    **plage_config: Any) -> tuple[Flask, Engine]:
    """A Flask app signing in with PLAGE (client settings from `settings`), its
    database engine shared by the kit's tables and the application's own."""
    app = Flask(import_name, static_folder=str(STATIC), static_url_path="/static",
                instance_path=str(Path(settings["instance_path"]).resolve()))
    app.config.update(
        DEMO=settings,
        SECRET_KEY=settings["secret_key"],
        SESSION_COOKIE_NAME=f"{import_name.rsplit('.', 1)[-1]}_session",
        SESSION_COOKIE_SECURE=settings["provider_url"].startswith("https://"),
        PLAGE_ISSUER=settings["provider_url"],
        PLAGE_CLIENT_ID=settings["client_id"],
        PLAGE_CLIENT_SECRET=settings["client_secret"] or None,
        **plage_config,
    )
    connect_args = {"timeout": 10} if settings["database_url"].startswith("sqlite") else {}
    engine = create_engine(settings["database_url"], connect_args=connect_args)
    plage.init_app(app, engine=engine)
    # The application's templates first, then those both demos share.
    app.jinja_loader = ChoiceLoader([  # type: ignore[method-assign,assignment]
        FileSystemLoader(str(Path(app.root_path) / "templates")),
        FileSystemLoader(str(SHARED_TEMPLATES)),
    ])
    for code, (title, message) in ERRORS.items():
        app.register_error_handler(code, _error_page(code, title, message))
    app.extensions[ENGINE_KEY] = engine
    app.extensions[DB_KEY] = sessionmaker(engine, expire_on_commit=False)
    return app, engine


def _error_page(code: int, title: str, message: str) -> Any:
    def render(exc: Exception) -> tuple[str, int]:
        own = getattr(exc, "description", None)
        french = own if own and own != type(exc).description else message
        return render_template("error.html", title=title, message=french), code

    return render


@contextmanager
def database() -> Iterator[Session]:
    """A session on the application's database, committed at the end of the block."""
    with current_app.extensions[DB_KEY].begin() as session:
        yield session
