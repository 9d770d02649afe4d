"""The application factory: nothing happens at import time, configuration is passed in."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.config import load_settings
from idp.core import redaction
from idp.core.errors import NotFound
from idp.directory import passwords
from idp.extensions import database_unavailable, db, ping_when_idle, private_sqlite_file
from idp.ops import views as ops
from idp.store import StoreUnavailable, create_store
from idp.web import screening
from idp.web.csrf import csrf

_PACKAGE = Path(__file__).resolve().parent
# Scripts and styles from our own files only (no inline code: an injected <script> or
# handler does not run), no plugins, no <base> rewriting, never framed (ASVS 3.4.3).
# No form-action: form_post answers are posted to the applications' own addresses.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'")


def _template_folder() -> str:
    # Installed wheel: idp/templates; source checkout: templates/ beside the package.
    inside = _PACKAGE / "templates"
    return str(inside if inside.is_dir() else _PACKAGE.parent / "templates")


def create_app(overrides: dict[str, dict[str, Any]] | None = None) -> Flask:
    settings = load_settings(overrides)
    app = Flask(
        "idp",
        template_folder=_template_folder(),
        static_folder=str(_PACKAGE / "static"),
        instance_path=settings["server"]["instance_path"],
    )
    app.config.update(
        IDP=settings,
        SECRET_KEY=settings["server"]["secret_key"],
        SQLALCHEMY_DATABASE_URI=settings["database"]["url"],
        SQLALCHEMY_ECHO=settings["database"]["echo"],
        # hide_parameters: an SQL error logged must not carry the values bound to it
        # (session data, tokens, personal details).
        # The pool checks idle connections itself (extensions.ping_when_idle).
        SQLALCHEMY_ENGINE_OPTIONS={"hide_parameters": True},
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["server"]["issuer"].startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,  # replaced by idp.web.csrf's origin check
        WTF_I18N_ENABLED=False,  # WTForms' own French catalogue (idp.web.forms), no Babel
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    # Discovery and the JWKS once held: answered ahead of Flask, inside the host guard.
    from idp.oidc.views import serve_public_documents
    serve_public_documents(app, _security_headers(app))
    # Before ProxyFix wraps the app: the guard judges the Host the proxy forwarded.
    screening.install(app)
    if settings["server"]["proxy_hops"]:
        hops = settings["server"]["proxy_hops"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    security = settings["security"]
    passwords.configure(security["password_hash_time_cost"],
                        security["password_hash_memory_kib"],
                        security["password_hash_parallelism"])
    database_url = settings["database"]["url"]
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        private_sqlite_file(Path(database_url.removeprefix("sqlite:///")))
    db.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        ping_when_idle(db.engine)
        app.extensions["idp.store"] = create_store(
            settings["redis"]["url"], settings["database"]["url"], db.engine
        )
    ops.install(app)  # before the other hooks: it times and logs the whole request

    from idp.admin.views import bp as admin_bp
    from idp.consent.views import bp as consent_bp
    from idp.directory import events as directory_events
    from idp.home.views import bp as home_bp
    from idp.login.views import bp as login_bp
    from idp.mail.service import MailChannel
    from idp.mfa.passkey_views import bp as passkeys_bp
    from idp.mfa.views import bp as mfa_bp
    from idp.national.views import bp as national_bp
    from idp.oidc.backchannel import LogoutChannel
    from idp.oidc.logout import end_profile_grants
    from idp.oidc.server import create_server
    from idp.oidc.views import bp as oidc_bp
    from idp.outbox import channels as outbox_channels
    from idp.oversight.views import bp as oversight_bp
    from idp.profiles.views import bp as profiles_bp
    from idp.requests.views import bp as requests_bp
    from idp.selfservice.views import bp as selfservice_bp
    from idp.web import navigation
    from idp.web import session as web_session
    from idp.web.deferred import DeferredChannel

    web_session.install(app)
    navigation.install(app)
    outbox_channels.install(app, MailChannel, LogoutChannel, DeferredChannel)
    directory_events.on_profile_ended(end_profile_grants)
    app.extensions["idp.oauth_server"] = create_server(app)
    for blueprint in (home_bp, login_bp, selfservice_bp, oidc_bp, consent_bp, admin_bp,
                      requests_bp, mfa_bp, passkeys_bp, profiles_bp, national_bp,
                      oversight_bp):
        app.register_blueprint(blueprint)
    _register_error_pages(app)
    _add_security_headers(app)
    redaction.install()  # after the imports above: their loggers exist now
    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets workers read while one writes.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def _security_headers(app: Flask) -> list[tuple[str, str]]:
    """Pages that take passwords and consents must not be framed (clickjacking), sniffed
    or leak their URLs (which carry interaction ids) to other sites. `same-origin`
    keeps the Referer and Origin of our own forms, which the CSRF check compares."""
    headers = [("X-Frame-Options", "DENY"),
               ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
               ("X-Content-Type-Options", "nosniff"),
               ("Referrer-Policy", "same-origin")]
    if app.config["IDP"]["server"]["issuer"].startswith("https://"):
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def _add_security_headers(app: Flask) -> None:
    security = _security_headers(app)

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in security:
            response.headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response


_ERROR_TITLES = {
    400: "Requête invalide",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Méthode non autorisée",
    413: "Requête trop volumineuse",
    429: "Trop de tentatives",
    500: "Erreur interne",
    503: "Service momentanément indisponible",
}

# Shown instead of Werkzeug's English descriptions; an abort() with its own (French)
# description shows that one.
_ERROR_MESSAGES = {
    400: "La requête envoyée est incomplète ou invalide.",
    403: "Vous n'avez pas les droits nécessaires pour accéder à cette page.",
    404: "La page demandée n'existe pas ou a été déplacée. Vérifiez l'adresse saisie.",
    405: "Cette page ne peut pas être appelée de cette façon.",
    413: "Les données envoyées sont trop volumineuses.",
    429: "Trop de tentatives en peu de temps. Réessayez dans quelques minutes.",
}


# Endpoints called by programs (relying applications, load balancers): JSON errors.
_MACHINE_ENDPOINTS = {"oidc.token", "oidc.userinfo", "oidc.jwks", "oidc.introspect",
                      "oidc.revoke", "oidc.configuration"}


def _json_error(error: str, description: str, status: int) -> Response:
    """An error for a program, in OAuth's shape (RFC 6749 §5.2)."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _register_error_pages(app: Flask) -> None:
    def render(code: int, message: str | None = None) -> tuple[str, int]:
        return render_template(
            "error.html",
            code=code,
            title=_ERROR_TITLES.get(code, "Erreur"),
            message=message,
        ), code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code is None or exc.code < 400:
            return exc
        if exc.code == 500:
            return render(500)
        if exc.code == 400 and request.endpoint in _MACHINE_ENDPOINTS:
            return _json_error("invalid_request", getattr(
                exc, "oauth_description", "The request is malformed."), 400)
        own = exc.description if exc.description != type(exc).description else None
        body, code = render(exc.code, own or _ERROR_MESSAGES.get(exc.code))
        # Keep the exception's own headers (Allow on a 405, Retry-After...).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return body, code, headers

    @app.errorhandler(NotFound)
    def unknown(exc: NotFound) -> Any:
        # An id in the address that names nothing (a client, a profile...): the domain's
        # message may echo the address, the page says it in its own words.
        return render(404, _ERROR_MESSAGES[404])

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> Any:
        return render(400, "Ce formulaire a expiré ou ne provient pas de PLAGE. "
                           "Rechargez la page et recommencez.")

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError) -> Any:
        return backend_down(exc) if database_unavailable(exc) else unexpected(exc)

    @app.errorhandler(StoreUnavailable)
    def backend_down(exc: Exception) -> Any:
        # Redis or the database did not answer: nothing was written, the person (or the
        # relying application, in OAuth's words) is told to try again shortly.
        app.logger.error("backend unavailable: %s", exc)
        with suppress(Exception):
            db.session.rollback()
        if request.endpoint in _MACHINE_ENDPOINTS:
            response = _json_error("temporarily_unavailable",
                                   "Service temporarily unavailable.", 503)
            response.headers["Retry-After"] = "5"
            return response
        body, code = render(503, "Le service est momentanément indisponible. "
                                 "Réessayez dans quelques instants.")
        return body, code, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error: %s", exc)
        db.session.rollback()
        return render(500)
