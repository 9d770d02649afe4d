"""Settings of a demo application: defaults, a TOML file, the environment, overrides.

The TOML file (named by DEMO_APPS_CONFIG, else instance/demo-apps.toml when it exists)
has one section per application, `[saga]` and `[tdb]`; `idp demo` writes it with the
client credentials it registered. Any key can be overridden by an environment variable
`DEMO_<APP>_<KEY>` (e.g. `DEMO_SAGA_PROVIDER_URL`), converted to the default's type.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

CONFIG_ENV = "DEMO_APPS_CONFIG"
DEFAULT_CONFIG = Path("instance") / "demo-apps.toml"

COMMON: dict[str, Any] = {
    "provider_url": "http://127.0.0.1:5000",
    "client_id": "",
    "client_secret": "",
    "host": "127.0.0.1",
    "port": 0,
    "instance_path": "instance",
    "database_url": "",  # default: SQLite file <instance_path>/demo-<app>.sqlite3
    "secret_key": "",  # default: random at each start (sessions live in the database)
}


def config_file() -> Path | None:
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _coerce(raw: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name}: expected an integer, got {raw!r}") from None
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def load_settings(app: str, defaults: dict[str, Any],
                  overrides: dict[str, Any] | None = None,
                  config_path: Path | None = None) -> dict[str, Any]:
    """The settings of demo application `app` ("saga" or "tdb"), from `config_path` or
    else the file `config_file()` finds."""
    settings = {**COMMON, **defaults}
    path = config_path or config_file()
    if path is not None:
        with path.open("rb") as fh:
            section = tomllib.load(fh).get(app, {})
        unknown = set(section) - set(settings)
        if unknown:
            raise ValueError(f"{path} [{app}]: unknown key(s) {', '.join(sorted(unknown))}")
        settings.update(section)
    for key, default in list(settings.items()):
        name = f"DEMO_{app.upper()}_{key.upper()}"
        if name in os.environ:
            settings[key] = _coerce(os.environ[name], default, name)
    settings.update(overrides or {})
    instance = Path(settings["instance_path"]).resolve()
    if not settings["database_url"]:
        instance.mkdir(parents=True, exist_ok=True)
        settings["database_url"] = f"sqlite:///{instance / f'demo-{app}.sqlite3'}"
    settings["secret_key"] = settings["secret_key"] or secrets.token_urlsafe(32)
    return settings
