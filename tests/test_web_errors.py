"""Error pages: French, in the PLAGE layout, and never a stack trace or an internal detail."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape

from flask import Flask

from tests.support.services import free_port

AppFactory = Callable[..., Flask]
TRACE_MARKERS = ("Traceback", 'File "', "werkzeug", "RuntimeError", "StoreUnavailable")


def assert_plage_page(html: str) -> None:
    assert '<html lang="fr">' in html
    assert 'class="site-header"' in html and "PLAGE" in html
    assert "Retour à l'accueil" in html
    for marker in TRACE_MARKERS:
        assert marker not in html


def test_an_unknown_address_gives_the_french_404_page(
    make_app: AppFactory, sqlite_url: str
) -> None:
    response = make_app(sqlite_url).test_client().get("/mes-profils-inexistants")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert_plage_page(html)
    assert "<title>Page introuvable – PLAGE</title>" in html
    # Werkzeug's English explanation must not leak onto a French page.
    assert "requested URL was not found" not in html
    assert "La page demandée n'existe pas" in unescape(html)


def test_a_wrong_method_gives_a_french_page(make_app: AppFactory, sqlite_url: str) -> None:
    response = make_app(sqlite_url).test_client().post("/health")
    html = response.get_data(as_text=True)
    assert response.status_code == 405
    assert_plage_page(html)
    assert "Méthode non autorisée" in html
    assert "GET" in response.headers["Allow"]  # and says which methods are allowed
    assert "not allowed for the requested URL" not in html


def test_an_explicit_french_reason_is_shown(make_app: AppFactory, sqlite_url: str) -> None:
    from flask import abort

    app: Flask = make_app(sqlite_url)

    @app.get("/_test/interdit")
    def forbidden() -> str:
        abort(403, "Seuls les administrateurs de l'entité peuvent ouvrir cette page.")

    response = app.test_client().get("/_test/interdit")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert_plage_page(html)
    assert "Accès refusé" in html
    assert "Seuls les administrateurs de l'entité peuvent ouvrir cette page." in unescape(html)


def test_a_failure_inside_a_page_gives_the_french_500_page_without_details(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app: Flask = make_app(sqlite_url)

    @app.get("/_test/panne")
    def broken() -> str:
        raise RuntimeError("mot de passe de la base : hunter2")

    response = app.test_client().get("/_test/panne")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert_plage_page(html)
    assert "Erreur interne" in html
    assert "Une erreur inattendue s'est produite" in unescape(html)
    assert "hunter2" not in html


def test_a_database_error_inside_a_page_leaves_the_next_request_working(
    make_app: AppFactory, sqlite_url: str
) -> None:
    from sqlalchemy import text

    from idp.extensions import db

    app: Flask = make_app(sqlite_url)

    @app.get("/_test/sql")
    def bad_sql() -> str:
        db.session.execute(text("SELECT * FROM table_qui_n_existe_pas"))
        return "jamais"

    client = app.test_client()
    response = client.get("/_test/sql")
    assert response.status_code == 500
    assert "table_qui_n_existe_pas" not in response.get_data(as_text=True)
    assert client.get("/health").status_code == 200


def test_an_unreachable_redis_gives_the_503_page(make_app: AppFactory, sqlite_url: str) -> None:
    app: Flask = make_app(sqlite_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")

    @app.get("/_test/session")
    def needs_store() -> str:
        app.extensions["idp.store"].put("session:test", {"profile": 1}, ttl=60)
        return "ok"

    client = app.test_client()
    response = client.get("/_test/session")
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert_plage_page(html)
    assert "Service momentanément indisponible" in html
    assert "Réessayez dans quelques instants" in html
    assert "Connection refused" not in html and "redis" not in html.lower()
    assert client.get("/").status_code == 200  # pages that need no store keep working


def test_pages_cannot_be_framed_or_cached(sqlite_app) -> None:  # type: ignore[no-untyped-def]
    """The login page takes passwords: no framing (clickjacking), no caching, no referrer
    to other sites."""
    response = sqlite_app.test_client().get("/connexion")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # http issuer in tests
    jwks = sqlite_app.test_client().get("/jwks")
    assert jwks.headers["Cache-Control"].startswith("public")  # JSON keeps its own policy


def test_a_database_that_does_not_answer_gives_503_not_500(make_app) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL down: relying applications get OAuth's temporarily_unavailable in JSON,
    people a French page; nobody sees a stack trace."""
    from tests.support.services import free_port

    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/idp")
    client = app.test_client()
    api = client.get("/jwks")
    assert api.status_code == 503
    assert api.get_json()["error"] == "temporarily_unavailable"
    assert api.headers["Retry-After"]
    token = client.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                        "client_id": "c", "redirect_uri": "https://a/cb"})
    assert token.status_code == 503 and token.is_json
    health = client.get("/health")
    assert health.status_code == 503 and health.is_json
    page = client.get("/authorize", query_string={"client_id": "c", "response_type": "code"})
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "momentanément indisponible" in text and "Traceback" not in text
