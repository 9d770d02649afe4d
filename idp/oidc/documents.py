"""Public documents (discovery, JWKS) serialized once and served with an ETag: a client
that already holds the current one gets a 304 with no body.

Every relying application and proxy fetches them, so a document this process already
holds is answered ahead of Flask (`PublicDocuments`), without the hooks that pages need
(host screening of forms, server-side session, CSRF) and, like Flask's answer of them
(`idp.ops.context.not_logged`), without a request line. The answer carries the same
headers, the request id, and is counted in the metrics. When the document is not held
(the first request; the JWKS a second after the last check of the registry's version),
the request goes through Flask, which loads it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import request
from werkzeug.http import parse_etags
from werkzeug.wrappers import Response

from idp.ops import context, metrics


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str
    max_age: int  # seconds a client may keep it (Cache-Control)

    @classmethod
    def of(cls, data: Any, max_age: int) -> Document:
        body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return cls(body=body, etag=hashlib.sha256(body).hexdigest()[:32], max_age=max_age)

    @property
    def cache_control(self) -> str:
        return f"public, max-age={self.max_age}"

    def response(self) -> Response:
        fresh = request.if_none_match.contains(self.etag)
        response = Response(b"" if fresh else self.body, status=304 if fresh else 200,
                            mimetype="application/json")
        response.set_etag(self.etag)
        response.headers["Cache-Control"] = self.cache_control
        return response


# path -> (the Flask endpoint it stands for, the document if this process holds it)
Routes = dict[str, tuple[str, Callable[[], Document | None]]]


class PublicDocuments:
    """WSGI middleware: a plain GET of a held public document, answered at once."""

    def __init__(self, wsgi_app: Any, routes: Routes,
                 headers: Iterable[tuple[str, str]]) -> None:
        self.wsgi_app = wsgi_app
        self.routes = routes
        self.headers = list(headers)  # the security headers every answer carries

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None or environ.get("REQUEST_METHOD") != "GET" or \
                environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        endpoint, held = route
        document = held()
        if document is None:
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        asked = environ.get("HTTP_IF_NONE_MATCH")
        fresh = asked is not None and parse_etags(asked).contains(document.etag)
        body = b"" if fresh else document.body
        start_response("304 NOT MODIFIED" if fresh else "200 OK", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("ETag", f'"{document.etag}"'), ("Cache-Control", document.cache_control),
            (context.HEADER, context.request_id_from(environ.get("HTTP_X_REQUEST_ID"))),
            *self.headers,
        ])
        metrics.request_served("GET", endpoint, 304 if fresh else 200,
                               time.perf_counter() - started)
        return [body]
