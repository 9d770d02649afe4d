"""The operators' endpoints and the hooks that time, count and log every request.

- `/healthz`: the process answers (liveness; no dependency is checked).
- `/readyz`: the database and the short-lived store answer (readiness), else 503;
  `/health`, the address load balancers were first given, answers the same.
- `/metrics`: Prometheus' text format, only when `metrics.enabled` and only to the
  addresses of `metrics.allowed_networks`; anyone else gets the 404 of an unknown page.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from typing import Any

from authlib.integrations.flask_oauth2 import client_authenticated
from flask import Blueprint, Flask, abort, current_app, jsonify, request
from werkzeug.wrappers import Response

from idp.core.redaction import redact
from idp.ops import context, health, logs, metrics
from idp.ops.backlog import OutboxBacklog

bp = Blueprint("ops", __name__)

_NETWORKS = "idp.ops.metrics_networks"
_LOGGING_SET_UP = "idp.ops.logging_set_up"
_LOCK = threading.Lock()
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
@bp.get("/health")
def readyz() -> tuple[Response, int]:
    checks = health.readiness()
    ready = all(verdict == "ok" for verdict in checks.values())
    return (_no_store(jsonify(status="ok" if ready else "unavailable", checks=checks)),
            200 if ready else 503)


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    if not _may_scrape(request.remote_addr):
        abort(404)
    return _no_store(Response(metrics.exposition(OutboxBacklog()),
                              content_type="text/plain; version=0.0.4; charset=utf-8"))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _may_scrape(remote_addr: str | None) -> bool:
    if not current_app.config["IDP"]["metrics"]["enabled"] or not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in current_app.extensions[_NETWORKS])


# --- every request --------------------------------------------------------------------


def _notes() -> context.RequestNotes:
    return context.begin(context.request_id_from(request.headers.get(context.HEADER)),
                         time.perf_counter())


def _begin() -> None:
    if not current_app.extensions[_LOGGING_SET_UP]:
        _set_up_logging(current_app._get_current_object())  # type: ignore[attr-defined]
    _notes()


def _set_up_logging(app: Flask) -> None:
    """At the first request the app serves, not when it is built: a command (`idp outbox
    deliver` from cron...) keeps its stderr for its own messages."""
    with _LOCK:
        if not app.extensions[_LOGGING_SET_UP]:
            logs.install(app.config["IDP"]["logging"])
            app.extensions[_LOGGING_SET_UP] = True


def _claimed_client() -> str | None:
    """The client a request names: HTTP Basic, or a `client_id` parameter (it may not
    have authenticated; a client that did is noted by `_authenticated`)."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        claimed = auth.username
    elif request.mimetype == "application/x-www-form-urlencoded":
        claimed = request.form.get("client_id") or request.args.get("client_id")
    else:
        claimed = request.args.get("client_id")
    return claimed[:128] if claimed and claimed.isprintable() else None


def _oauth_error(response: Response) -> str | None:
    if response.status_code < 400 or not response.is_json:
        return None
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else None


def _finish(response: Response) -> Response:
    notes = context.current() or _notes()
    response.headers[context.HEADER] = notes.request_id
    if request.blueprint == bp.name and response.status_code < 400:
        return response  # probes and scrapes: neither timed nor logged
    seconds = time.perf_counter() - notes.started
    metrics.request_served(request.method, request.endpoint, response.status_code, seconds)
    if not notes.logged and response.status_code < 400:
        return response
    notes.client_id = notes.client_id or _claimed_client()
    notes.outcome = notes.outcome or _oauth_error(response)
    # The path only: secrets travel in query strings (a logout's id_token_hint) and
    # bodies, never in our paths (links carry their codes after '#'); a JWT pasted into
    # an address is masked all the same.
    logs.request_line(request.method, redact(request.path), response.status_code, seconds,
                      request.remote_addr)
    return response


def _authenticated(sender: Any, client: Any, **_: Any) -> None:
    context.note_client(client.client_id)


def install(app: Flask) -> None:
    """Register the endpoints and the request hooks of `app` (its logging is set up at
    its first request). Call it before the other hooks are registered: its
    `after_request` then runs last (it sees the final answer) and its `before_request`
    first (a request refused by an earlier hook still has its id)."""
    app.extensions[_LOGGING_SET_UP] = False
    app.extensions[_NETWORKS] = [ipaddress.ip_network(n, strict=False)
                                 for n in app.config["IDP"]["metrics"]["allowed_networks"]]
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_finish)
    client_authenticated.connect(_authenticated)
    app.register_blueprint(bp)
