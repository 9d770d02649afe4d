"""No secret readable at rest or in logs: store keys, SQL errors, SQLite files."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from idp.core.audit import Actor
from idp.extensions import db
from idp.keys import sealing
from idp.keys import service as keys
from idp.keys.models import SigningKey
from idp.store.sql_store import ShortLivedEntry


def test_the_store_knows_a_session_by_the_hash_of_its_id(sqlite_app: Flask) -> None:
    client = sqlite_app.test_client()
    assert client.get("/connexion").status_code == 200  # a CSRF token: a session
    sid = client.get_cookie("plage_session").value
    store = sqlite_app.extensions["idp.store"]
    keys = store._run(lambda s: list(s.scalars(select(ShortLivedEntry.key))))
    assert f"session:{hashlib.sha256(sid.encode()).hexdigest()}" in keys
    assert not any(sid in key for key in keys)


def test_an_sql_error_carries_no_bound_value(app: Flask) -> None:
    """Logged errors must not hold the session data, tokens or personal details bound to
    the statement (on SQLite and PostgreSQL)."""
    with app.app_context(), pytest.raises(SQLAlchemyError) as failed:
        db.session.execute(text("SELECT * FROM no_such_table WHERE v = :v"),
                           {"v": "session-secret-value"})
    assert "session-secret-value" not in str(failed.value)
    with app.app_context():
        db.session.rollback()


def test_sqlite_files_are_readable_by_their_owner_only(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "fresh" / "idp.sqlite3"
    app = make_app(f"sqlite:///{database}")
    client = app.test_client()
    client.get("/connexion")
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
    files = [p for p in database.parent.iterdir() if p.name.startswith("idp")]
    assert {p.name for p in files} >= {"idp.sqlite3", "idp-store.sqlite3"}
    for path in files:  # -wal and -shm included when present
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


def test_a_key_encrypted_the_old_way_is_still_read(sqlite_app: Flask,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys stored before sealing (PKCS#8, PBKDF2 at 2,048 iterations) keep signing."""
    from joserfc.jwk import RSAKey

    with sqlite_app.app_context():
        key = RSAKey.generate_key(2048, private=True, parameters={"alg": "RS256"})
        db.session.add(SigningKey(kid=key.thumbprint(), alg="RS256",
                                  public_jwk=key.as_dict(private=False),
                                  private_pem=key.as_pem(private=True,
                                                         password="phrase").decode()))
        db.session.commit()
        monkeypatch.setattr(keys, "_opened", {})
        opened = keys.signing_key("RS256", "phrase")
        assert opened.kid == key.thumbprint()
        assert opened.as_dict(private=True)["d"] == key.as_dict(private=True)["d"]


def test_an_opened_key_is_kept_per_process_by_kid(sqlite_app: Flask,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The key derivation is slow on purpose: paid once per process, not per token."""
    derived: list[int] = []
    derive = sealing._key
    monkeypatch.setattr(sealing, "_key", lambda *a: derived.append(1) or derive(*a))
    with sqlite_app.app_context():
        row = keys.generate("ES256", "phrase", Actor(label="test"))
        db.session.commit()
        monkeypatch.setattr(keys, "_opened", {})  # as in another process
        derived.clear()
        first = keys.signing_key("ES256", "phrase")
        assert [keys.signing_key("ES256", "phrase") for _ in range(3)] == [first] * 3
        assert first.kid == row.kid and derived == [1]


def _salt_of(stored: str) -> str:
    return stored.split("$")[2]


def test_the_secrets_of_one_purpose_share_one_key_derivation_per_process() -> None:
    """The second factor's secrets are opened at every code check: one derivation per
    process opens them all, each still bound to its own row and to the passphrase."""
    sealing._key.cache_clear()
    first = sealing.seal(b"JBSWY3DPEHPK3PXP", "phrase", "totp:1", purpose="second-factor")
    second = sealing.seal(b"KRSXG5CTMVRXEZLU", "phrase", "totp:2", purpose="second-factor")
    assert _salt_of(first) == _salt_of(second) and first.split("$")[3] != second.split("$")[3]
    for _ in range(3):
        assert sealing.unseal(first, "phrase", "totp:1") == b"JBSWY3DPEHPK3PXP"
        assert sealing.unseal(second, "phrase", "totp:2") == b"KRSXG5CTMVRXEZLU"
    assert sealing._key.cache_info().misses == 1
    with pytest.raises(sealing.WrongPassphrase):
        sealing.unseal(first, "phrase", "totp:2")  # copied onto another account
    with pytest.raises(sealing.WrongPassphrase):
        sealing.unseal(first, "not the phrase", "totp:1")


def test_a_signing_key_keeps_a_salt_of_its_own() -> None:
    assert _salt_of(sealing.seal(b"pem", "phrase", "k1")) != _salt_of(
        sealing.seal(b"pem", "phrase", "k2"))
