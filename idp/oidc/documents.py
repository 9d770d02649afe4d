"""Public documents (discovery, JWKS) serialized once and served with an ETag: a client
that already holds the current one gets a 304 with no body."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import request
from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str

    @classmethod
    def of(cls, data: Any) -> Document:
        body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return cls(body=body, etag=hashlib.sha256(body).hexdigest()[:32])

    def response(self, max_age: int) -> Response:
        fresh = request.if_none_match.contains(self.etag)
        response = Response(b"" if fresh else self.body, status=304 if fresh else 200,
                            mimetype="application/json")
        response.set_etag(self.etag)
        response.headers["Cache-Control"] = f"public, max-age={max_age}"
        return response
