"""Configuration: built-in defaults, an optional TOML file, then environment overrides.

`IDP_CONFIG` names the TOML file. Any key can be overridden by an environment variable
named `IDP_<SECTION>__<KEY>` (e.g. `IDP_DATABASE__URL`, `IDP_REDIS__URL`); the value is
converted to the type of the default. With no file and no variable the defaults work:
SQLite and the embedded store under the instance folder, mail written to a folder.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import os
import secrets
import tempfile
import tomllib
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "server": {
        "issuer": "http://127.0.0.1:5000",
        "host": "127.0.0.1",
        "port": 5000,
        "secret_key": "",
        "instance_path": "instance",
        "proxy_hops": 0,
    },
    "database": {
        "url": "",
        "echo": False,
    },
    "redis": {
        "url": "",
    },
    "mail": {
        "backend": "file",
        "directory": "",
        "sender": "PLAGE <ne-pas-repondre@plage.invalid>",
        "smtp_host": "localhost",
        "smtp_port": 25,
        "smtp_starttls": False,
        "smtp_username": "",
        "smtp_password": "",
        "smtp_timeout": 10,
    },
    "keys": {
        "passphrase": "",
    },
    "oidc": {
        "code_ttl": 60,
        "access_token_ttl": 600,
        "id_token_ttl": 3600,
        "refresh_token_ttl": 2592000,
        "refresh_family_max_age": 7776000,
        "session_ttl": 28800,
        "session_idle_timeout": 3600,
        "backchannel_logout_timeout": 5,
        "require_pkce": True,
    },
    # Per channel (mail, backchannel), in seconds; 0 for a give-up rule: no limit.
    "outbox": {
        "mail_lease": 600,
        "mail_first_retry": 60,
        "mail_max_retry": 3600,
        "mail_give_up_after_attempts": 0,
        "mail_give_up_after": 259200,
        "backchannel_lease": 60,
        "backchannel_first_retry": 30,
        "backchannel_max_retry": 14400,
        "backchannel_give_up_after_attempts": 12,
        "backchannel_give_up_after": 0,
        "deferred_lease": 60,
        "deferred_first_retry": 30,
        "deferred_max_retry": 600,
        "deferred_give_up_after_attempts": 0,
        "deferred_give_up_after": 3600,
    },
    "security": {
        "password_min_length": 12,
        # argon2id, RFC 9106's second recommended option; OWASP's minimum is
        # m = 19 MiB, t = 2, p = 1.
        "password_hash_memory_kib": 65536,
        "password_hash_time_cost": 3,
        "password_hash_parallelism": 4,
        "login_max_failures": 5,
        "login_max_failures_per_ip": 50,
        "login_lockout_seconds": 900,
        "login_first_delay_seconds": 2,
        "login_max_delay_seconds": 60,
        "recovery_max_requests": 3,
        "recovery_max_requests_per_ip": 50,
        "recovery_window_seconds": 3600,
        "password_reset_ttl": 3600,
        "activation_link_ttl": 7 * 24 * 3600,
        "remembered_device_days": 30,
        "email_change_ttl": 24 * 3600,
        "review_inactive_months": 6,
    },
    "metrics": {
        "enabled": False,
        "allowed_networks": ["127.0.0.1/32", "::1/128"],
    },
    "logging": {
        "format": "json",
        "level": "INFO",
    },
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


def _coerce(raw: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _merge_file(settings: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    for section, values in data.items():
        if section not in settings or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}]")
        for key, value in values.items():
            if key not in settings[section]:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
            default = settings[section][key]
            # bool is an int in Python: `port = true` must not pass for a number.
            if isinstance(value, bool) != isinstance(default, bool) or (
                not isinstance(value, type(default))
                and not (isinstance(default, float) and isinstance(value, int))
            ):
                raise ConfigError(
                    f"{path}: {section}.{key} must be of type {type(default).__name__}"
                )
            settings[section][key] = value


def _merge_environ(settings: dict[str, dict[str, Any]], environ: dict[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith("IDP_") or "__" not in name:
            continue
        section, _, key = name[4:].lower().partition("__")
        if section not in settings or key not in settings[section]:
            # A typo must not silently fall back to a default (e.g. an empty SQLite file).
            raise ConfigError(f"{name}: no such setting (see config.example.toml)")
        settings[section][key] = _coerce(raw, settings[section][key], name)


def _secret_file(path: Path) -> str:
    """Read a generated secret, creating it (mode 0600) on first use.

    Several processes share it through the instance folder; production sets the value
    in the configuration instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written in full under a private name, then linked into place: a process
        # starting at the same time sees either no file or the whole secret.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # fails if another process was first: use its secret
        finally:
            os.unlink(tmp)
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"{path} is empty: delete it to generate a new secret")
    return value


def _check_outbox(outbox: dict[str, Any]) -> None:
    for key, value in outbox.items():
        # A lease or a delay of 0 would have deliverers take the same item over and over;
        # 0 is "no limit" for the give-up rules.
        positive = key.endswith(("_lease", "_retry"))
        if value < 0 or (positive and value == 0):
            raise ConfigError(f"outbox.{key} must be {'positive' if positive else '0 or more'}")
    for key in outbox:
        if key.endswith("_first_retry"):
            channel = key.removesuffix("_first_retry")
            if outbox[f"{channel}_max_retry"] < outbox[key]:
                raise ConfigError(f"outbox.{channel}_max_retry must be at least "
                                  f"outbox.{key}")


def _check_oidc(oidc: dict[str, Any]) -> None:
    for key, value in oidc.items():
        if not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"oidc.{key} must be positive")
    if oidc["code_ttl"] > 600:
        # RFC 6749 §4.1.2 and ASVS 10.4.3: a code lives ten minutes at most.
        raise ConfigError("oidc.code_ttl must be at most 600 seconds")
    if oidc["session_idle_timeout"] > oidc["session_ttl"]:
        # It could never apply: the session ends at session_ttl whatever the activity.
        raise ConfigError("oidc.session_idle_timeout must be at most oidc.session_ttl")


def _check_operations(settings: dict[str, dict[str, Any]]) -> None:
    for network in settings["metrics"]["allowed_networks"]:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"metrics.allowed_networks: {network!r} is not an address "
                              "or a network (e.g. 10.0.0.0/8)") from None
    logging_ = settings["logging"]
    if logging_["format"] not in {"json", "plain"}:
        raise ConfigError("logging.format must be 'json' or 'plain'")
    logging_["level"] = logging_["level"].upper()
    if logging_["level"] not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError("logging.level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")


def _check_password_hashing(security: dict[str, Any]) -> None:
    for key in ("password_hash_memory_kib", "password_hash_time_cost",
                "password_hash_parallelism"):
        if security[key] < 1:
            raise ConfigError(f"security.{key} must be positive")
    if security["password_hash_memory_kib"] < 8 * security["password_hash_parallelism"]:
        # argon2's own rule: at least 8 KiB per lane.
        raise ConfigError("security.password_hash_memory_kib must be at least 8 times "
                          "security.password_hash_parallelism")


def load_settings(
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Return the effective settings: defaults < IDP_CONFIG file < environment < overrides."""
    environ = dict(os.environ if environ is None else environ)
    settings = copy.deepcopy(DEFAULTS)
    if environ.get("IDP_CONFIG"):
        _merge_file(settings, Path(environ["IDP_CONFIG"]))
    _merge_environ(settings, environ)
    for section, values in (overrides or {}).items():
        settings.setdefault(section, {}).update(values)

    instance = Path(settings["server"]["instance_path"]).resolve()
    settings["server"]["instance_path"] = str(instance)
    if not settings["database"]["url"]:
        instance.mkdir(parents=True, exist_ok=True)
        settings["database"]["url"] = f"sqlite:///{instance / 'idp.sqlite3'}"
    if not settings["mail"]["directory"]:
        settings["mail"]["directory"] = str(instance / "mail")
    if not settings["server"]["secret_key"]:
        settings["server"]["secret_key"] = _secret_file(instance / "secret_key")
    if not settings["keys"]["passphrase"]:
        settings["keys"]["passphrase"] = _secret_file(instance / "keys_passphrase")
    if settings["mail"]["backend"] not in {"file", "smtp"}:
        raise ConfigError("mail.backend must be 'file' or 'smtp'")
    _check_oidc(settings["oidc"])
    _check_outbox(settings["outbox"])
    _check_operations(settings)
    security = settings["security"]
    _check_password_hashing(security)
    if security["password_min_length"] < 8:
        # ASVS 6.2.1: 8 at the very least (15 recommended).
        raise ConfigError("security.password_min_length must be at least 8")
    if not 0 < security["login_first_delay_seconds"] <= security["login_max_delay_seconds"]:
        raise ConfigError("security.login_first_delay_seconds must be positive and at most "
                          "security.login_max_delay_seconds")
    if security["review_inactive_months"] < 1:
        raise ConfigError("security.review_inactive_months must be positive")
    if security["remembered_device_days"] < 0:
        raise ConfigError("security.remembered_device_days must be 0 (no remembered "
                          "device) or more")
    settings["server"]["issuer"] = settings["server"]["issuer"].rstrip("/")
    return settings
