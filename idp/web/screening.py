"""Requests refused before any view sees them: what no page or endpoint can use, and
what would otherwise fail deep inside a library or a database as a server error.

- A Host header (or X-Forwarded-Host) that is not a host name Werkzeug can handle (a
  label over 63 characters, an empty label, a broken `xn--` label): Flask could then
  build no URL at all, not even the error page's, and `request.url` would raise; the
  answer is a fixed French page sent before Flask.
- A NUL character anywhere in the path, the query, the form or the headers: PostgreSQL
  text cannot hold it (psycopg raises), and no legitimate value carries one.
- A multipart form part without a name: Werkzeug gives it the name None, which the
  CSRF check (and any code that reads the form's names) does not expect.
- A number in a path (`/profils/demandes/<int:…>`) that no row id can be: PostgreSQL's
  integer ids stop at 2**31 - 1 and a bigger one fails the query; such a path is a 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from werkzeug.wsgi import get_host

NUL_REFUSED = "La requête contient un caractère interdit (caractère nul)."
NAMELESS_FIELD = "La requête contient un champ de formulaire sans nom."

_BAD_HOST_PAGE = (
    '<!doctype html>\n<html lang="fr"><head><meta charset="utf-8">'
    "<title>Requête invalide – PLAGE</title></head><body><h1>Requête invalide</h1>"
    "<p>L'adresse du site demandée (en-tête Host) est invalide.</p></body></html>"
).encode()


class InputRefused(BadRequest):
    """A 400 with a French description for pages and an English one for programs (the
    protocol endpoints answer `invalid_request`, see idp.app)."""

    def __init__(self, description: str, oauth_description: str) -> None:
        super().__init__(description)
        self.oauth_description = oauth_description


def _usable_host(environ: dict[str, Any]) -> bool:
    name = get_host(environ).lower().partition(":")[0]
    try:
        name.encode("idna")  # as werkzeug.routing.Map.bind does (port apart)
        if name.isascii():
            name.encode().decode("idna")  # as werkzeug.urls.uri_to_iri (request.url)
    except UnicodeError:
        return False
    return True


class HostGuard:
    """WSGI middleware: a Host that Werkzeug cannot handle gets a 400 page."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not _usable_host(environ):
            start_response("400 BAD REQUEST", [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(_BAD_HOST_PAGE))),
                ("Cache-Control", "no-store"),
            ])
            return [_BAD_HOST_PAGE]
        return self.wsgi_app(environ, start_response)


_HEADERS_WITHOUT_PREFIX = ("CONTENT_TYPE", "CONTENT_LENGTH")


def _headers_carry_nul(environ: dict[str, Any]) -> bool:
    """A NUL in a header's name or value, read from the WSGI environ itself (through
    `request.headers`, each name would be rebuilt first: that cost more than the check)."""
    return any("\x00" in key or "\x00" in value for key, value in environ.items()
               if isinstance(value, str)
               and (key.startswith("HTTP_") or key in _HEADERS_WITHOUT_PREFIX))


def _refusal() -> InputRefused | None:
    """Why the request is refused before any view, if it is."""
    form = request.form
    if None in form:
        return InputRefused(NAMELESS_FIELD, "A form part has no name.")
    fields = chain(request.args.items(multi=True), form.items(multi=True))
    if "\x00" in request.path or any("\x00" in name or "\x00" in value
                                     for name, value in fields) \
            or _headers_carry_nul(request.environ):
        return InputRefused(NUL_REFUSED, "The request contains a NUL character.")
    return None


ROW_ID_MAX = 2**31 - 1  # PostgreSQL's integer


class RowId(IntegerConverter):
    """`<int:…>` in every route: a positive number a database integer can hold."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, *args, **{"min": 1, "max": ROW_ID_MAX, **kwargs})


def install(app: Flask) -> None:
    """Before the blueprints: the routes read the `int` converter when they are added."""
    app.url_map.converters["int"] = RowId
    app.wsgi_app = HostGuard(app.wsgi_app)  # type: ignore[method-assign]

    @app.before_request  # registered before CSRFProtect's, which reads the form first
    def _screen() -> None:
        refused = _refusal()
        if refused is not None:
            raise refused
