"""Configuration: the defaults work with nothing, a TOML file and IDP_* variables override
them, and a mistake stops the start with a message naming the culprit."""

from __future__ import annotations

import re
import stat
import threading
import tomllib
from pathlib import Path

import pytest

from idp.app import create_app
from idp.config import DEFAULTS, ConfigError, load_settings
from idp.extensions import db


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, as for a first `idp serve` after installation."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_with_nothing_configured_the_defaults_work(workdir: Path) -> None:
    settings = load_settings(environ={})
    instance = workdir / "instance"
    assert settings["server"]["instance_path"] == str(instance)
    assert settings["database"]["url"] == f"sqlite:///{instance / 'idp.sqlite3'}"
    assert settings["redis"]["url"] == ""
    assert settings["mail"]["backend"] == "file"
    assert settings["mail"]["directory"] == str(instance / "mail")
    assert settings["server"]["port"] == 5000
    assert settings["oidc"]["access_token_ttl"] == 600
    assert len(settings["server"]["secret_key"]) >= 32
    assert len(settings["keys"]["passphrase"]) >= 32
    assert settings["server"]["secret_key"] != settings["keys"]["passphrase"]


def test_loading_leaves_the_defaults_untouched(workdir: Path) -> None:
    load_settings(environ={"IDP_SERVER__PORT": "8080"})
    assert DEFAULTS["server"]["port"] == 5000
    assert DEFAULTS["database"]["url"] == ""


def test_the_file_named_by_idp_config_is_read(workdir: Path) -> None:
    config = write(workdir / "plage.toml", """
[server]
issuer = "https://plage.sante.example/"
port = 8443
proxy_hops = 1

[database]
url = "postgresql+psycopg://plage@db/plage"

[redis]
url = "redis://cache:6379/0"

[mail]
backend = "smtp"
smtp_host = "smtp.sante.example"
smtp_starttls = true
""")
    settings = load_settings(environ={"IDP_CONFIG": str(config)})
    assert settings["server"]["issuer"] == "https://plage.sante.example"  # no trailing /
    assert settings["server"]["port"] == 8443
    assert settings["server"]["proxy_hops"] == 1
    assert settings["database"]["url"] == "postgresql+psycopg://plage@db/plage"
    assert settings["redis"]["url"] == "redis://cache:6379/0"
    assert settings["mail"]["backend"] == "smtp"
    assert settings["mail"]["smtp_starttls"] is True
    assert settings["mail"]["smtp_port"] == 25  # untouched keys keep their default
    assert not (workdir / "instance" / "idp.sqlite3").exists()


def test_environment_variables_override_the_file_with_the_defaults_types(workdir: Path) -> None:
    config = write(workdir / "plage.toml", '[server]\nport = 8443\n[database]\necho = true\n')
    settings = load_settings(environ={
        "IDP_CONFIG": str(config),
        "IDP_SERVER__PORT": "9000",
        "IDP_DATABASE__ECHO": "off",
        "IDP_MAIL__SMTP_STARTTLS": "yes",
        "IDP_OIDC__CODE_TTL": " 30 ",
        "IDP_DATABASE__URL": "sqlite:////var/lib/plage/idp.sqlite3",
        "IDP_SECURITY__PASSWORD_MIN_LENGTH": "14",
        "IDP_UNRELATED": "ignored",
        "HOME": "/root",
    })
    assert settings["server"]["port"] == 9000
    assert settings["database"]["echo"] is False
    assert settings["mail"]["smtp_starttls"] is True
    assert settings["oidc"]["code_ttl"] == 30
    assert settings["security"]["password_min_length"] == 14
    assert settings["database"]["url"] == "sqlite:////var/lib/plage/idp.sqlite3"


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on"])
def test_booleans_are_read_the_usual_ways(workdir: Path, raw: str) -> None:
    assert load_settings(environ={"IDP_DATABASE__ECHO": raw})["database"]["echo"] is True


@pytest.mark.parametrize(
    ("name", "raw"),
    [("IDP_SERVER__PORT", "huit-mille"), ("IDP_OIDC__CODE_TTL", "1.5"),
     ("IDP_DATABASE__ECHO", "peut-être"), ("IDP_MAIL__SMTP_STARTTLS", "2")],
)
def test_a_bad_value_names_the_variable(workdir: Path, name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ={name: raw})
    assert name in str(error.value)
    assert raw in str(error.value)


def test_the_environment_is_read_when_none_is_given(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDP_SERVER__PORT", "8081")
    assert load_settings()["server"]["port"] == 8081


def test_overrides_given_in_code_win_over_everything(workdir: Path) -> None:
    settings = load_settings({"server": {"port": 1234}}, environ={"IDP_SERVER__PORT": "8080"})
    assert settings["server"]["port"] == 1234


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[serveur]\nport = 8080\n", "[serveur]"),
        ("[server]\nprot = 8080\n", "server.prot"),
        ("port = 8080\n", "[port]"),
    ],
)
def test_an_unknown_section_or_key_in_the_file_is_refused(
    workdir: Path, text: str, named: str
) -> None:
    config = write(workdir / "plage.toml", text)
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"IDP_CONFIG": str(config)})
    assert named in str(error.value)
    assert str(config) in str(error.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[server]\nport = "8080"\n', "server.port"),
        ("[server]\nport = true\n", "server.port"),
        ("[database]\necho = 1\n", "database.echo"),
        ("[database]\nurl = 5\n", "database.url"),
    ],
)
def test_a_value_of_the_wrong_type_in_the_file_is_refused(
    workdir: Path, text: str, named: str
) -> None:
    config = write(workdir / "plage.toml", text)
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(environ={"IDP_CONFIG": str(config)})


def test_a_missing_or_broken_file_is_reported(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"IDP_CONFIG": str(workdir / "absent.toml")})
    broken = write(workdir / "broken.toml", "[server\nport = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(environ={"IDP_CONFIG": str(broken)})


def test_an_unknown_mail_backend_is_refused(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"mail\.backend"):
        load_settings(environ={"IDP_MAIL__BACKEND": "pigeon"})


@pytest.mark.production_hashing
def test_the_example_file_documents_every_key_with_its_default() -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    with example.open("rb") as file:
        assert tomllib.load(file) == DEFAULTS


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [("IDP_OUTBOX__MAIL_LEASE", "0", "outbox.mail_lease must be positive"),
     ("IDP_OUTBOX__BACKCHANNEL_FIRST_RETRY", "-5",
      "outbox.backchannel_first_retry must be positive"),
     ("IDP_OUTBOX__MAIL_GIVE_UP_AFTER", "-1", "outbox.mail_give_up_after must be 0 or more"),
     ("IDP_OUTBOX__MAIL_MAX_RETRY", "30",
      "outbox.mail_max_retry must be at least outbox.mail_first_retry"),
     ("IDP_OIDC__BACKCHANNEL_LOGOUT_TIMEOUT", "0",
      "oidc.backchannel_logout_timeout must be positive"),
     ("IDP_OIDC__CODE_TTL", "601", "oidc.code_ttl must be at most 600 seconds"),
     ("IDP_SECURITY__PASSWORD_MIN_LENGTH", "6",
      "security.password_min_length must be at least 8")],
)
def test_settings_that_cannot_work_are_refused(workdir: Path, name: str, raw: str,
                                                    message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_settings(environ={name: raw})


def test_an_outbox_channel_may_be_tried_for_ever(workdir: Path) -> None:
    settings = load_settings(environ={"IDP_OUTBOX__MAIL_GIVE_UP_AFTER": "0"})
    assert settings["outbox"]["mail_give_up_after"] == 0
    assert settings["outbox"]["mail_give_up_after_attempts"] == 0


def test_generated_secrets_are_private_files_reused_by_every_load(workdir: Path) -> None:
    first = load_settings(environ={})
    second = load_settings(environ={})
    assert first["server"]["secret_key"] == second["server"]["secret_key"]
    assert first["keys"]["passphrase"] == second["keys"]["passphrase"]
    for name in ("secret_key", "keys_passphrase"):
        path = workdir / "instance" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (workdir / "instance" / "secret_key").read_text() == first["server"]["secret_key"]


def test_configured_secrets_create_no_file(workdir: Path) -> None:
    settings = load_settings(environ={"IDP_SERVER__SECRET_KEY": "s" * 40,
                                      "IDP_KEYS__PASSPHRASE": "p" * 40})
    assert settings["server"]["secret_key"] == "s" * 40
    assert not (workdir / "instance" / "secret_key").exists()
    assert not (workdir / "instance" / "keys_passphrase").exists()


def test_workers_starting_together_share_one_complete_secret(workdir: Path) -> None:
    # gunicorn starts its workers at once on a fresh instance folder: none of them may
    # read a secret file that another is still writing.
    for attempt in range(20):
        instance = workdir / f"instance{attempt}"
        seen: list[str] = []
        barrier = threading.Barrier(8)

        def load(
            instance: Path = instance, seen: list[str] = seen,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            seen.append(load_settings({"server": {"instance_path": str(instance)}},
                                      environ={})["server"]["secret_key"])

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 8 and len(set(seen)) == 1 and seen[0]


def test_an_empty_secret_file_is_not_used_as_a_secret(workdir: Path) -> None:
    instance = workdir / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text("")
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings(environ={})


def test_the_provider_starts_in_an_empty_directory_with_no_configuration(
    workdir: Path,
) -> None:
    app = create_app()
    try:
        assert (workdir / "instance").is_dir()
        assert app.instance_path == str(workdir / "instance")
        assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
        assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/idp.sqlite3")
        assert app.config["SECRET_KEY"]
        assert app.config["SESSION_COOKIE_SECURE"] is False  # http issuer by default
        response = app.test_client().get("/health")
        assert response.status_code == 200
        assert response.get_json()["status"] == "ok"
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_an_https_issuer_makes_the_session_cookie_secure(workdir: Path) -> None:
    app = create_app({"server": {"issuer": "https://plage.sante.example"}})
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_mistyped_environment_variable_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from idp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="IDP_DATABASE__URI"):
        load_settings({"server": {"instance_path": str(tmp_path)}},
                      environ={"IDP_DATABASE__URI": "postgresql://typo"})


@pytest.mark.production_hashing
def test_password_hashing_defaults_to_at_least_owasp_minimum() -> None:
    security = DEFAULTS["security"]
    assert security["password_hash_memory_kib"] >= 19 * 1024
    assert security["password_hash_time_cost"] >= 2
    assert security["password_hash_parallelism"] >= 1


@pytest.mark.production_hashing
def test_the_app_hashes_passwords_with_the_configured_parameters(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from idp.directory import passwords

    make_app(sqlite_url, security={"password_hash_memory_kib": 19456,
                                   "password_hash_time_cost": 2,
                                   "password_hash_parallelism": 1})
    hashed = passwords.hash_password("Un-mot-de-passe-2026")
    assert "$m=19456,t=2,p=1$" in hashed
    assert passwords.verify_password(hashed, "Un-mot-de-passe-2026")
    make_app(sqlite_url, security={"password_hash_memory_kib": 20480,
                                   "password_hash_time_cost": 2,
                                   "password_hash_parallelism": 1})
    assert passwords.needs_rehash(hashed)  # re-hashed at the next login


@pytest.mark.parametrize(("key", "value", "message"), [
    ("PASSWORD_HASH_TIME_COST", "0", "security.password_hash_time_cost must be positive"),
    ("PASSWORD_HASH_MEMORY_KIB", "4",
     "security.password_hash_memory_kib must be at least 8 times"),
])
def test_password_hashing_settings_are_checked(tmp_path: Path, key: str, value: str,
                                               message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({"server": {"instance_path": str(tmp_path)}},
                      environ={f"IDP_SECURITY__{key}": value})
