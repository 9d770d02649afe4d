"""The client registry: national administrators register the relying applications
(ANCRE, Tableau de bord ESMS, native tools, batch jobs) and the rules their settings
must follow, through the service and through `idp clients`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import func, select

from idp.cli import cli
from idp.clients import service
from idp.clients.models import Client, hash_client_secret
from idp.core.audit import Actor, AuditEvent
from idp.core.errors import NotFound
from idp.extensions import db

ADMIN = Actor(label="national-admin")
TDB = {"name": "Tableau de bord ESMS", "domains": ["TDBESMS"],
       "redirect_uris": ["https://tdb.example.fr/oidc/callback"]}


def public_jwks() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", private=True)
    return {"keys": [key.as_dict(private=False)]}


def reloaded(client_id: str) -> Client:
    """The client as stored, not as cached in the session."""
    db.session.expire_all()
    return service.get_client(client_id)


def client_events() -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("clients.%")).order_by(AuditEvent.id)
    ))


def client_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Client)) or 0


# --- registering ----------------------------------------------------------------------


def test_a_confidential_client_gets_a_secret_stored_only_as_a_hash(catalogue: Flask) -> None:
    client, secret = service.create_client(**TDB, actor=ADMIN)
    db.session.commit()

    assert secret is not None and len(secret) >= 43
    stored = reloaded(client.client_id)
    assert stored.client_secret_hash == hash_client_secret(secret) != secret
    assert stored.check_client_secret(secret)
    assert not stored.check_client_secret(secret + "x")
    assert not stored.check_client_secret("")
    assert stored.client_id.startswith("tableau-de-bord-esms-")
    assert stored.token_endpoint_auth_method == "client_secret_basic"
    assert stored.grant_types == ["authorization_code", "refresh_token"]
    assert stored.allowed_scopes == list(service.SCOPES)
    assert stored.domains == ["TDBESMS"] and not stored.is_public and not stored.disabled
    # ES256 unless asked otherwise: a tenth of an RS256 signature for the provider.
    assert stored.id_token_signed_response_alg == "ES256"


def test_two_clients_of_the_same_name_get_distinct_client_ids(catalogue: Flask) -> None:
    first, _ = service.create_client(**TDB, actor=ADMIN)
    second, _ = service.create_client(**TDB, actor=ADMIN)
    assert first.client_id != second.client_id


def test_a_public_native_client_has_no_secret(catalogue: Flask) -> None:
    client, secret = service.create_client(
        name="Outil ANCRE", domains=["ancre"], public=True,
        redirect_uris=["fr.atih.ancre:/callback", "http://127.0.0.1/callback",
                       "http://[::1]:8400/cb", "http://localhost:8080/cb"],
        actor=ADMIN,
    )
    db.session.commit()
    stored = reloaded(client.client_id)
    assert secret is None and stored.client_secret_hash is None
    assert stored.is_public and stored.token_endpoint_auth_method == "none"
    assert stored.domains == ["ANCRE"]
    assert not stored.check_client_secret("anything")


def test_a_machine_client_uses_client_credentials_without_redirect_uri(
    catalogue: Flask,
) -> None:
    client, secret = service.create_client(
        name="Batch PMSI", domains=["PMSI"], grant_types=["client_credentials"],
        allowed_scopes=["habilitations"], client_id="batch-pmsi", actor=ADMIN,
    )
    db.session.commit()
    stored = reloaded("batch-pmsi")
    assert secret is not None and stored.check_client_secret(secret)
    assert stored.redirect_uris == [] and stored.grant_types == ["client_credentials"]
    assert stored.check_grant_type("client_credentials")
    assert not stored.check_response_type("code")
    assert client.allowed_scopes == ["habilitations"]


def test_a_private_key_jwt_client_keeps_public_keys_and_has_no_secret(
    catalogue: Flask,
) -> None:
    jwks = public_jwks()
    client, secret = service.create_client(
        **TDB, token_endpoint_auth_method="private_key_jwt", jwks=jwks,
        id_token_signed_response_alg="es256", userinfo_signed_response_alg="RS256",
        actor=ADMIN,
    )
    db.session.commit()
    stored = reloaded(client.client_id)
    assert secret is None and stored.client_secret_hash is None
    assert stored.jwks == jwks
    assert stored.id_token_signed_response_alg == "ES256"
    assert stored.userinfo_signed_response_alg == "RS256"
    with pytest.raises(service.InvalidClientSettings, match="n'a pas de secret à renouveler"):
        service.rotate_secret(stored, ADMIN)


def test_a_lone_public_key_is_kept_as_a_key_set_with_its_kid(catalogue: Flask) -> None:
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "tdb-2026"})
    client, _ = service.create_client(
        **TDB, token_endpoint_auth_method="private_key_jwt",
        jwks=key.as_dict(private=False), actor=ADMIN,
    )
    assert client.jwks == {"keys": [key.as_dict(private=False)]}
    assert client.jwks["keys"][0]["kid"] == "tdb-2026"


def test_a_chosen_client_id_is_unique(catalogue: Flask) -> None:
    service.create_client(**TDB, client_id="tdbesms", actor=ADMIN)
    db.session.commit()
    with pytest.raises(service.ClientIdTaken,
                       match="identifiant client tdbesms est déjà attribué"):
        service.create_client(**TDB, client_id="tdbesms", actor=ADMIN)
    with pytest.raises(service.InvalidClientSettings,
                       match="identifiant client 'tdb esms:1' est invalide"):
        service.create_client(**TDB, client_id="tdb esms:1", actor=ADMIN)
    # All digits, it could pass for a person's identifier in a client_credentials `sub`.
    with pytest.raises(service.InvalidClientSettings, match="pris pour l'identifiant Plage"):
        service.create_client(**TDB, client_id="715938", actor=ADMIN)


def _private_jwks() -> dict[str, Any]:
    return {"keys": [ECKey.generate_key("P-256", private=True).as_dict(private=True)]}


def _symmetric_jwks() -> dict[str, Any]:
    return {"keys": [OctKey.generate_key(256, private=True).as_dict()]}


# Each message is a substring of the French explanation of the rule (not a regex).
INVALID = [
    ({"domains": ["NOPE"]}, "Domaine(s) inconnu(s) : NOPE"),
    ({"domains": []}, "enregistrée pour au moins un domaine"),
    ({"name": "  "}, "Le nom de l'application est obligatoire"),
    ({"redirect_uris": ["http://tdb.example.fr/cb"]},
     "L'URI de redirection http://tdb.example.fr/cb doit utiliser https (http seulement "
     "pour 127.0.0.1, [::1] ou localhost)."),
    ({"redirect_uris": ["http://localhost.evil.example/cb"]},
     "http://localhost.evil.example/cb doit utiliser https (http seulement"),
    ({"redirect_uris": ["https://tdb.example.fr/cb#top"]},
     "L'URI de redirection https://tdb.example.fr/cb#top ne doit pas contenir de fragment"),
    ({"redirect_uris": ["/oidc/callback"]}, "/oidc/callback doit être une URI absolue"),
    ({"redirect_uris": ["https:///cb"]}, "https:///cb n'indique aucun hôte"),
    ({"redirect_uris": ["fr.atih.tdb:/cb"]},
     "les schémas privés sont réservés aux clients publics"),
    ({"redirect_uris": []}, "authorization_code nécessite une URI de redirection"),
    ({"public": True, "redirect_uris": ["javascript:alert(1)"]},
     "javascript:alert(1) : un schéma privé doit s'écrire en notation de domaine inversé"),
    ({"post_logout_redirect_uris": ["http://tdb.example.fr/bye"]},
     "L'URI après déconnexion http://tdb.example.fr/bye doit utiliser https"),
    ({"backchannel_logout_uri": "fr.atih.tdb:/logout"},
     "L'URI de déconnexion back-channel fr.atih.tdb:/logout doit utiliser https (ou http "
     "sur l'interface de bouclage) : la déconnexion back-channel se fait de serveur à "
     "serveur."),
    ({"backchannel_logout_uri": "https://tdb.example.fr/logout#x"},
     "L'URI de déconnexion back-channel https://tdb.example.fr/logout#x ne doit pas "
     "contenir de fragment"),
    ({"public": True, "grant_types": ["authorization_code", "client_credentials"]},
     "Un client public ne peut pas utiliser client_credentials"),
    ({"public": True, "token_endpoint_auth_method": "client_secret_basic"},
     "Un client public n'a ni secret ni clé : sa méthode d'authentification est « none », "
     "pas « client_secret_basic »"),
    ({"token_endpoint_auth_method": "none"},
     "La méthode d'authentification « none » est réservée aux clients publics"),
    ({"token_endpoint_auth_method": "client_secret_jwt"},
     "Méthode d'authentification non prise en charge : « client_secret_jwt »"),
    ({"token_endpoint_auth_method": "private_key_jwt"},
     "private_key_jwt nécessite les clés publiques de l'application"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": _private_jwks()},
     "ne doit contenir que des clés publiques"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": _symmetric_jwks()},
     "ne doit contenir que des clés publiques"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "RSA"}]}},
     "JWK Set invalide"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "XYZ"}]}},
     "JWK Set"),
    ({"jwks": {"keys": [{"kty": "EC"}]}}, "Un JWK Set ne sert qu'avec private_key_jwt"),
    ({"grant_types": ["implicit"]}, "Type(s) d'autorisation non pris en charge : implicit"),
    ({"grant_types": []}, "au moins un type d'autorisation"),
    ({"grant_types": ["refresh_token"], "redirect_uris": []},
     "refresh_token ne s'utilise qu'avec authorization_code"),
    ({"grant_types": ["client_credentials"]},
     "Les URI de redirection ne servent qu'avec le type d'autorisation authorization_code"),
    ({"allowed_scopes": ["openid", "admin"]}, "Scope(s) inconnu(s) : admin"),
    ({"id_token_signed_response_alg": "HS256"},
     "Algorithme de signature non pris en charge pour l'ID token : « HS256 »"),
    ({"userinfo_signed_response_alg": "none"},
     "Algorithme de signature non pris en charge pour les réponses userinfo : « none »"),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID,
                         ids=[m for _, m in INVALID])
def test_invalid_settings_are_refused_with_a_clear_message(
    catalogue: Flask, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(service.InvalidClientSettings, match=re.escape(message)):
        service.create_client(**(TDB | overrides), actor=ADMIN)
    assert client_count() == 0 and client_events() == []


def test_an_unknown_client_is_not_found(catalogue: Flask) -> None:
    with pytest.raises(NotFound, match="Application inconnue : ghost"):
        service.get_client("ghost")


def test_list_clients_in_client_id_order(catalogue: Flask) -> None:
    for client_id in ("saga", "ancre", "tdbesms"):
        service.create_client(**TDB, client_id=client_id, actor=ADMIN)
    service.disable_client(service.get_client("saga"), ADMIN)
    db.session.commit()
    assert [c.client_id for c in service.list_clients()] == ["ancre", "saga", "tdbesms"]
    assert [c.client_id for c in service.list_clients(include_disabled=False)] == [
        "ancre", "tdbesms"]


# --- secrets, state and changes -------------------------------------------------------


def test_rotating_the_secret_invalidates_the_old_one(catalogue: Flask) -> None:
    client, old = service.create_client(**TDB, actor=ADMIN)
    new = service.rotate_secret(client, ADMIN)
    db.session.commit()
    stored = reloaded(client.client_id)
    assert old and new != old
    assert stored.check_client_secret(new) and not stored.check_client_secret(old)


def test_disable_and_enable(catalogue: Flask) -> None:
    client, _ = service.create_client(**TDB, actor=ADMIN)
    service.disable_client(client, ADMIN)
    db.session.commit()
    assert reloaded(client.client_id).disabled
    with pytest.raises(service.InvalidClientSettings, match="est déjà désactivée"):
        service.disable_client(client, ADMIN)
    service.enable_client(client, ADMIN)
    db.session.commit()
    assert not reloaded(client.client_id).disabled


def test_update_replaces_lists_and_keeps_the_rest(catalogue: Flask) -> None:
    client, secret = service.create_client(
        **TDB, post_logout_redirect_uris=["https://tdb.example.fr/bye"], actor=ADMIN)
    _, new_secret = service.update_client(
        client, ADMIN, domains=["ancre", "TDBESMS"],
        redirect_uris=["https://tdb2.example.fr/cb", "https://tdb3.example.fr/cb"],
        allowed_scopes=["openid", "habilitations"], first_party=True,
    )
    db.session.commit()
    stored = reloaded(client.client_id)
    assert new_secret is None and secret and stored.check_client_secret(secret)
    assert stored.domains == ["ANCRE", "TDBESMS"]
    assert stored.redirect_uris == ["https://tdb2.example.fr/cb", "https://tdb3.example.fr/cb"]
    assert stored.allowed_scopes == ["openid", "habilitations"]
    assert stored.first_party
    assert stored.post_logout_redirect_uris == ["https://tdb.example.fr/bye"]
    assert stored.name == TDB["name"]


def test_an_invalid_update_changes_nothing(catalogue: Flask) -> None:
    client, _ = service.create_client(**TDB, actor=ADMIN)
    db.session.commit()
    with pytest.raises(service.InvalidClientSettings, match="cb doit utiliser https"):
        service.update_client(client, ADMIN, redirect_uris=["http://tdb.example.fr/cb"])
    assert client.redirect_uris == TDB["redirect_uris"]
    with pytest.raises(service.InvalidClientSettings,
                       match="Un client public ne peut pas utiliser"):
        service.update_client(client, ADMIN, public=True,
                              grant_types=["authorization_code", "client_credentials"])
    assert not client.is_public
    with pytest.raises(TypeError, match="client_id"):
        service.update_client(client, ADMIN, client_id="other")


def test_an_update_that_changes_nothing_records_nothing(catalogue: Flask) -> None:
    client, _ = service.create_client(**TDB, actor=ADMIN)
    service.update_client(client, ADMIN, domains=["tdbesms"], name=f" {TDB['name']} ")
    assert [e.action for e in client_events()] == ["clients.create"]


def test_changing_the_auth_method_issues_or_drops_the_secret(catalogue: Flask) -> None:
    client, _ = service.create_client(
        **TDB, token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(), actor=ADMIN)
    _, none = service.update_client(client, ADMIN, public=False, name="TdB ESMS")
    assert none is None and client.token_endpoint_auth_method == "private_key_jwt"
    assert client.jwks is not None  # saying it stays confidential changes no method

    _, secret = service.update_client(client, ADMIN,
                                      token_endpoint_auth_method="client_secret_post")
    assert secret and client.check_client_secret(secret)
    assert client.jwks is None  # keys only serve private_key_jwt

    _, none = service.update_client(client, ADMIN, public=True)
    db.session.commit()
    stored = reloaded(client.client_id)
    assert none is None and stored.is_public and stored.client_secret_hash is None
    assert not stored.check_client_secret(secret)


# --- audit ----------------------------------------------------------------------------


def test_every_change_is_audited_without_the_secret(catalogue: Flask) -> None:
    client, first = service.create_client(**TDB, actor=ADMIN)
    service.update_client(client, ADMIN, redirect_uris=["https://tdb.example.fr/cb2"])
    second = service.rotate_secret(client, ADMIN)
    service.disable_client(client, ADMIN)
    service.enable_client(client, ADMIN)
    db.session.commit()

    events = client_events()
    assert [e.action for e in events] == [
        "clients.create", "clients.update", "clients.rotate_secret", "clients.disable",
        "clients.enable"]
    assert {e.actor for e in events} == {"national-admin"}
    assert {e.details["client_id"] for e in events} == {client.client_id}
    assert events[0].details["redirect_uris"] == TDB["redirect_uris"]
    assert events[1].details["changes"] == {"redirect_uris": ["https://tdb.example.fr/cb2"]}
    logged = json.dumps([e.details for e in events])
    for secret in (first, second):
        assert secret and secret not in logged and hash_client_secret(secret) not in logged


# --- command line ---------------------------------------------------------------------


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(cli, ["clients", *args])


def run_json(app: Flask, *args: str) -> Any:
    result = run(app, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_create_prints_the_secret_once(catalogue: Flask) -> None:
    created = run_json(catalogue, "create", "--name", "ANCRE", "--domain", "ANCRE",
                       "--redirect-uri", "https://ancre.example.fr/cb",
                       "--redirect-uri", "https://ancre.example.fr/cb2",
                       "--scope", "openid", "--scope", "habilitations",
                       "--client-id", "ancre", "--first-party")
    secret = created["client_secret"]
    assert created["client_id"] == "ancre" and created["first_party"] is True
    assert created["redirect_uris"] == ["https://ancre.example.fr/cb",
                                        "https://ancre.example.fr/cb2"]
    assert created["allowed_scopes"] == ["openid", "habilitations"]
    assert reloaded("ancre").check_client_secret(secret)

    shown = run(catalogue, "show", "ancre")
    listed = run(catalogue, "list", "--json")
    for result in (shown, listed, run(catalogue, "show", "ancre", "--json")):
        assert result.exit_code == 0
        assert secret not in result.output
        assert hash_client_secret(secret) not in result.output
    assert json.loads(listed.stdout)[0]["has_secret"] is True


def test_cli_create_warns_that_the_secret_cannot_be_shown_again(
    sqlite_catalogue: Flask,
) -> None:
    result = run(sqlite_catalogue, "create", "--name", "SAGA Directeurs", "--domain", "SAGA",
                 "--redirect-uri", "https://saga.example.fr/cb")
    assert result.exit_code == 0, result.output
    secret_lines = [line for line in result.stdout.splitlines()
                    if line.startswith("client_secret: ")]
    assert len(secret_lines) == 1
    assert "cannot be shown again" in result.stderr
    client = service.list_clients()[0]
    assert client.client_id.startswith("saga-directeurs-")
    assert client.check_client_secret(secret_lines[0].removeprefix("client_secret: "))


def test_cli_public_client_prints_no_secret(sqlite_catalogue: Flask) -> None:
    created = run_json(sqlite_catalogue, "create", "--name", "Outil", "--domain", "ECDS",
                       "--public", "--redirect-uri", "fr.atih.outil:/cb")
    assert created["type"] == "public" and "client_secret" not in created
    assert created["token_endpoint_auth_method"] == "none"


def test_cli_update_replaces_lists_and_clears(sqlite_catalogue: Flask) -> None:
    run_json(sqlite_catalogue, "create", "--name", "TdB", "--domain", "TDBESMS",
             "--client-id", "tdb", "--redirect-uri", "https://a.example.fr/cb",
             "--post-logout-uri", "https://a.example.fr/bye",
             "--backchannel-logout-uri", "https://a.example.fr/bcl")
    updated = run_json(sqlite_catalogue, "update", "tdb",
                       "--redirect-uri", "https://b.example.fr/cb",
                       "--redirect-uri", "https://c.example.fr/cb",
                       "--clear", "post-logout-uris", "--clear", "backchannel-logout-uri",
                       "--id-token-alg", "ES256")
    assert updated["redirect_uris"] == ["https://b.example.fr/cb", "https://c.example.fr/cb"]
    assert updated["post_logout_redirect_uris"] == []
    assert updated["backchannel_logout_uri"] is None
    assert updated["id_token_signed_response_alg"] == "ES256"
    assert updated["domains"] == ["TDBESMS"] and "client_secret" not in updated


def test_cli_rotate_disable_enable(sqlite_catalogue: Flask) -> None:
    old = run_json(sqlite_catalogue, "create", "--name", "TdB", "--domain", "TDBESMS",
                   "--client-id", "tdb", "--redirect-uri",
                   "https://a.example.fr/cb")["client_secret"]
    new = run_json(sqlite_catalogue, "rotate-secret", "tdb")["client_secret"]
    client = reloaded("tdb")
    assert client.check_client_secret(new) and not client.check_client_secret(old)

    assert run_json(sqlite_catalogue, "disable", "tdb")["disabled"] is True
    assert reloaded("tdb").disabled
    result = run(sqlite_catalogue, "enable", "tdb")
    assert result.exit_code == 0 and "Client tdb enabled." in result.stdout
    assert not reloaded("tdb").disabled


def test_cli_private_key_jwt_reads_the_jwks_file(sqlite_catalogue: Flask,
                                                 tmp_path: Path) -> None:
    jwks = public_jwks()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    created = run_json(sqlite_catalogue, "create", "--name", "M2M", "--domain", "PMSI",
                       "--grant-type", "client_credentials", "--auth-method",
                       "private_key_jwt", "--jwks", str(path))
    assert created["jwks"] == jwks and created["has_secret"] is False
    assert "client_secret" not in created


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--name", "X", "--domain", "NOPE", "--redirect-uri", "https://x.fr/cb"],
     "Domaine(s) inconnu(s) : NOPE"),
    (["create", "--name", "X", "--domain", "ANCRE", "--redirect-uri", "http://x.fr/cb"],
     "L'URI de redirection http://x.fr/cb doit utiliser https"),
    (["create", "--domain", "ANCRE", "--redirect-uri", "https://x.fr/cb"],
     "missing option --name"),
    (["create", "--name", "X", "--domain", "ANCRE", "--public", "--grant-type",
      "client_credentials"], "Un client public ne peut pas utiliser client_credentials"),
    (["show", "ghost"], "Application inconnue : ghost"),
    (["rotate-secret", "ghost"], "Application inconnue : ghost"),
    (["update", "tdb"], "nothing to change"),
    (["update", "tdb", "--clear", "jwks", "--jwks", "{jwks}"], "contradicts"),
    (["create", "--name", "X", "--domain", "ANCRE", "--auth-method", "private_key_jwt",
      "--jwks", "{not_json}", "--redirect-uri", "https://x.fr/cb"], "not a readable JSON"),
    (["enable", "tdb"], "L'application tdb est déjà active."),
])
def test_cli_bad_input_is_a_one_line_error(sqlite_catalogue: Flask, tmp_path: Path,
                                           args: list[str], message: str) -> None:
    service.create_client(**TDB, client_id="tdb", actor=ADMIN)
    db.session.commit()
    (tmp_path / "jwks.json").write_text(json.dumps(public_jwks()))
    (tmp_path / "bad.json").write_text("{not json")
    args = [a.format(jwks=tmp_path / "jwks.json", not_json=tmp_path / "bad.json")
            for a in args]
    result = run(sqlite_catalogue, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert [e.action for e in client_events()] == ["clients.create"]
