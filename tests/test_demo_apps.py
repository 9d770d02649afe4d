"""The demo applications' registration with the provider and their configuration."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from flask import Flask

from demo_apps import __main__ as runner
from demo_apps import config, saga, tdb
from demo_apps.registration import DEMO_CLIENTS, SAGA, register_demo_clients
from idp.clients import service
from idp.directory.catalogue import load_catalogue
from idp.extensions import db
from tests.support.directory import ACTOR


def test_registration_writes_the_demo_configuration_and_keeps_secrets(
        sqlite_app: Flask, tmp_path: Path) -> None:
    load_catalogue(ACTOR)
    db.session.commit()
    path = tmp_path / "demo-apps.toml"
    assert register_demo_clients(path, actor=ACTOR) == path
    first = tomllib.loads(path.read_text())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    for demo in DEMO_CLIENTS:
        section = first[demo.key]
        assert section["provider_url"] == "http://idp.test"
        assert section["port"] == demo.port
        client = service.get_client(demo.client_id)
        assert client.check_client_secret(section["client_secret"])
        assert client.domains == list(demo.domains) and client.first_party
        assert client.redirect_uris == [f"http://127.0.0.1:{demo.port}/plage/callback"]
        assert client.backchannel_logout_uri == (
            f"http://127.0.0.1:{demo.port}/plage/backchannel-logout")
    # Again: same clients, same secrets (the running demo applications keep working).
    register_demo_clients(path, actor=ACTOR)
    assert tomllib.loads(path.read_text()) == first
    # A lost file: new secrets, still the same clients.
    path.unlink()
    register_demo_clients(path, actor=ACTOR)
    again = tomllib.loads(path.read_text())
    assert again["saga"]["client_id"] == SAGA.client_id
    assert again["saga"]["client_secret"] != first["saga"]["client_secret"]
    assert len(service.list_clients()) == len(DEMO_CLIENTS)


def test_settings_come_from_the_file_then_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "demo-apps.toml"
    path.write_text('[tdb]\nclient_id = "from-file"\nport = 6002\n', encoding="utf-8")
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    monkeypatch.setenv("DEMO_TDB_PORT", "7002")
    app = tdb.create_app({"instance_path": str(tmp_path)})
    settings = app.config["DEMO"]
    assert settings["client_id"] == "from-file" and settings["port"] == 7002
    assert settings["database_url"] == f"sqlite:///{tmp_path.resolve() / 'demo-tdb.sqlite3'}"
    assert app.config["PLAGE_APP_NAME"] == "Tableau de bord ESMS"
    path.write_text('[saga]\nunknown = 1\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown"):
        saga.create_app({"instance_path": str(tmp_path)})


def test_the_runner_asks_for_idp_demo_first(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    assert runner.main([]) == 2
    assert "run `idp demo` first" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "instance")
