"""Registering the demo applications as clients of the provider (`idp demo`).

The one place of `demo_apps` that uses the provider's internals: it runs inside the
provider's app context, registers (or updates) the two clients through the provider's
client service, and writes their credentials where `python -m demo_apps` reads them.
Running it again keeps the client ids and the secrets.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from idp.clients import service
from idp.core.audit import Actor
from idp.core.errors import NotFound
from idp.extensions import db


@dataclass(frozen=True)
class DemoClient:
    key: str  # its section in the configuration file
    client_id: str
    name: str
    domains: tuple[str, ...]
    port: int

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"


SAGA = DemoClient("saga", "demo-saga-directeurs", "SAGA Directeurs", ("SAGA",), 5001)
TDB = DemoClient("tdb", "demo-tdb-esms", "Tableau de bord ESMS", ("TDBESMS",), 5002)
DEMO_CLIENTS = (SAGA, TDB)


def ensure_client(demo: DemoClient, base_url: str, secret: str | None,
                  actor: Actor) -> str:
    """Register `demo` served at `base_url` (or bring it up to date); its secret: `secret`
    when it is still the client's, else a new one. Leaves the commit to the caller."""
    settings = {
        "name": demo.name,
        "domains": list(demo.domains),
        "redirect_uris": [f"{base_url}/plage/callback"],
        "post_logout_redirect_uris": [f"{base_url}/plage/deconnecte"],
        "backchannel_logout_uri": f"{base_url}/plage/backchannel-logout",
        "first_party": True,  # an application of the platform: no consent screen
    }
    try:
        client = service.get_client(demo.client_id)
    except NotFound:
        client, issued = service.create_client(client_id=demo.client_id, actor=actor,
                                               **settings)
        assert issued is not None
        return issued
    service.update_client(client, actor, **settings)
    if client.disabled:
        service.enable_client(client, actor)
    if secret and client.check_client_secret(secret):
        return secret
    return service.rotate_secret(client, actor)


def register_demo_clients(config_path: Path | None = None, *, host: str = "127.0.0.1",
                          actor: Actor | None = None) -> Path:
    """Register both demo applications and write their configuration file (default
    <instance>/demo-apps.toml); commits. Returns the file's path."""
    path = config_path or Path(current_app.instance_path) / "demo-apps.toml"
    known = _read_secrets(path)
    actor = actor or Actor.cli()
    issuer = current_app.config["IDP"]["server"]["issuer"]
    sections = []
    for demo in DEMO_CLIENTS:
        secret = ensure_client(demo, demo.base_url(host), known.get(demo.key), actor)
        sections.append((demo, secret))
    db.session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `idp demo`: the demo applications' clients (python -m demo_apps).",
             "# Keep it private: it holds client secrets."]
    for demo, secret in sections:
        lines += ["", f"[{demo.key}]",
                  f"provider_url = {json.dumps(issuer)}",
                  f"client_id = {json.dumps(demo.client_id)}",
                  f"client_secret = {json.dumps(secret)}",
                  f"host = {json.dumps(host)}",
                  f"port = {demo.port}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _read_secrets(path: Path) -> dict[str, str]:
    """The secrets of a configuration file written before, if any."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return {}
    return {key: str(section.get("client_secret", "")) for key, section in data.items()
            if isinstance(section, dict)}
