"""Registering relying applications: the rules a client's settings must follow.

This module is the single place of those rules; the command line and the national
administrators' pages only call it. Like the directory services, each operation adds its
changes and an audit event to the current session and leaves the commit to the caller.

A client's secret is returned once, when it is issued, and stored only as a hash; it never
appears in the audit log.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.clients.models import Client, hash_client_secret
from idp.core.audit import Actor, record
from idp.core.errors import NotFound, RuleViolation
from idp.directory.models import Domain
from idp.extensions import db
from idp.oidc.capabilities import (
    ACR_VALUES,
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    CONFIDENTIAL_AUTH_METHODS,
    DEFAULT_CONFIDENTIAL_AUTH_METHOD,
    DEFAULT_GRANT_TYPES,
    GRANT_TYPES,
    NEW_CLIENT_SIGNING_ALGORITHM,
    PRIVATE_KEY_JWT,
    PUBLIC_AUTH_METHOD,
    REFRESH_TOKEN,
    SCOPES,
    SECRET_AUTH_METHODS,
    SIGNING_ALGORITHMS,
)

# RFC 8252 §7.3: native apps may listen on the loopback interface over plain http.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_NAME_MAX, _SLUG_MAX = 255, 48


class InvalidClientSettings(RuleViolation):
    """Settings a client may not have; str(exc) says which and why."""


class ClientIdTaken(InvalidClientSettings):
    pass


@dataclass(frozen=True)
class ClientSettings:
    """Everything an administrator registers for a client (the client_id aside)."""

    name: str
    domains: Sequence[str]
    redirect_uris: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    backchannel_logout_uri: str | None = None
    public: bool = False
    first_party: bool = False
    allowed_scopes: Sequence[str] | None = None
    grant_types: Sequence[str] | None = None
    token_endpoint_auth_method: str | None = None
    id_token_signed_response_alg: str = NEW_CLIENT_SIGNING_ALGORITHM
    userinfo_signed_response_alg: str | None = None
    jwks: dict[str, Any] | None = None
    required_acr: str | None = None  # the level every login must reach (step-up)


UPDATABLE_FIELDS = frozenset(f.name for f in dataclasses.fields(ClientSettings))


# --- queries --------------------------------------------------------------------------


def list_clients(*, include_disabled: bool = True) -> list[Client]:
    query = select(Client).order_by(Client.client_id)
    if not include_disabled:
        query = query.where(Client.disabled.is_(False))
    return list(db.session.scalars(query))


def get_client(client_id: str) -> Client:
    client = db.session.scalar(select(Client).where(Client.client_id == client_id.strip()))
    if client is None:
        raise NotFound(f"Application inconnue : {client_id}")
    return client


# --- operations -----------------------------------------------------------------------


def create_client(
    name: str,
    domains: Iterable[str],
    redirect_uris: Iterable[str] = (),
    post_logout_redirect_uris: Iterable[str] = (),
    backchannel_logout_uri: str | None = None,
    public: bool = False,
    first_party: bool = False,
    allowed_scopes: Iterable[str] | None = None,
    grant_types: Iterable[str] | None = None,
    token_endpoint_auth_method: str | None = None,
    id_token_signed_response_alg: str = NEW_CLIENT_SIGNING_ALGORITHM,
    userinfo_signed_response_alg: str | None = None,
    jwks: dict[str, Any] | None = None,
    client_id: str | None = None,
    required_acr: str | None = None,
    *,
    actor: Actor,
) -> tuple[Client, str | None]:
    """Register a client; returns it with its secret (None when it authenticates without
    one: public clients and private_key_jwt). The secret cannot be retrieved later."""
    settings = validate(ClientSettings(
        name=name,
        domains=tuple(domains),
        redirect_uris=tuple(redirect_uris),
        post_logout_redirect_uris=tuple(post_logout_redirect_uris),
        backchannel_logout_uri=backchannel_logout_uri,
        public=public,
        first_party=first_party,
        allowed_scopes=None if allowed_scopes is None else tuple(allowed_scopes),
        grant_types=None if grant_types is None else tuple(grant_types),
        token_endpoint_auth_method=token_endpoint_auth_method,
        id_token_signed_response_alg=id_token_signed_response_alg,
        userinfo_signed_response_alg=userinfo_signed_response_alg,
        jwks=jwks,
        required_acr=required_acr,
    ))
    client = Client(client_id=_new_client_id(settings.name, client_id), disabled=False)
    _apply(client, settings)
    secret = _issue_secret(client) if _uses_secret(client) else None
    db.session.add(client)
    db.session.flush()
    record(actor, "clients.create", target=client, client_id=client.client_id,
           **_audit_view(settings))
    return client, secret


def update_client(client: Client, actor: Actor, **changes: Any) -> tuple[Client, str | None]:
    """Change some settings (lists are replaced as a whole); the client_id stays.

    Returns the client and a new secret when the change made it need one it did not have
    (e.g. from public or private_key_jwt to client_secret_basic), else None. Moving to a
    method without a secret drops the old secret.
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"not client settings: {', '.join(sorted(unknown))}")
    current = settings_of(client)
    type_changes = "public" in changes and bool(changes["public"]) != client.is_public
    if type_changes and "token_endpoint_auth_method" not in changes:
        changes["token_endpoint_auth_method"] = None  # the default of the new type
    if changes.get("token_endpoint_auth_method", client.token_endpoint_auth_method) \
            != PRIVATE_KEY_JWT and "jwks" not in changes:
        changes["jwks"] = None  # keys only serve private_key_jwt
    for key in ("domains", "redirect_uris", "post_logout_redirect_uris"):
        if key in changes:
            changes[key] = tuple(changes[key] or ())
    for key in ("allowed_scopes", "grant_types"):  # None: back to the default
        if changes.get(key) is not None:
            changes[key] = tuple(changes[key])
    new = validate(dataclasses.replace(current, **changes))
    before = _audit_view(current)
    after = _audit_view(new)
    changed = {key: after[key] for key in after if after[key] != before[key]}
    if not changed:
        return client, None
    _apply(client, new)
    secret = None
    if not _uses_secret(client):
        client.client_secret_hash = None
    elif client.client_secret_hash is None:
        secret = _issue_secret(client)
    record(actor, "clients.update", target=client, client_id=client.client_id,
           changes=changed, secret_issued=secret is not None)
    return client, secret


def rotate_secret(client: Client, actor: Actor) -> str:
    """Replace the client's secret; the old one stops working at once."""
    if not _uses_secret(client):
        raise InvalidClientSettings(
            f"L'application {client.client_id} a pour méthode d'authentification "
            f"{client.token_endpoint_auth_method} : elle n'a pas de secret à renouveler."
        )
    secret = _issue_secret(client)
    record(actor, "clients.rotate_secret", target=client, client_id=client.client_id)
    return secret


def disable_client(client: Client, actor: Actor) -> None:
    _set_disabled(client, True, actor)


def enable_client(client: Client, actor: Actor) -> None:
    _set_disabled(client, False, actor)


def _set_disabled(client: Client, disabled: bool, actor: Actor) -> None:
    state = "désactivée" if disabled else "active"
    if client.disabled == disabled:
        raise InvalidClientSettings(f"L'application {client.client_id} est déjà {state}.")
    client.disabled = disabled
    record(actor, "clients.disable" if disabled else "clients.enable", target=client,
           client_id=client.client_id)


# --- validation -----------------------------------------------------------------------


def validate(settings: ClientSettings) -> ClientSettings:
    """The settings normalised (defaults filled in, duplicates removed), or
    InvalidClientSettings naming the first rule they break."""
    name = settings.name.strip()
    if not name:
        raise InvalidClientSettings("Le nom de l'application est obligatoire.")
    if len(name) > _NAME_MAX:
        raise InvalidClientSettings(
            f"Le nom de l'application ne doit pas dépasser {_NAME_MAX} caractères."
        )
    public = bool(settings.public)
    method = _auth_method(settings.token_endpoint_auth_method, public)
    grant_types = _grant_types(settings.grant_types, public)
    redirect_uris = _uris(settings.redirect_uris, "L'URI de redirection", public)
    if AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise InvalidClientSettings(
            f"Le type d'autorisation {AUTHORIZATION_CODE} nécessite une URI de redirection."
        )
    if redirect_uris and AUTHORIZATION_CODE not in grant_types:
        raise InvalidClientSettings(
            f"Les URI de redirection ne servent qu'avec le type d'autorisation "
            f"{AUTHORIZATION_CODE}."
        )
    backchannel = settings.backchannel_logout_uri
    if backchannel is not None and backchannel.strip():
        backchannel = _uri(
            backchannel, "L'URI de déconnexion back-channel",
            private_use_refused="la déconnexion back-channel se fait de serveur à serveur",
        )
    else:
        backchannel = None
    return ClientSettings(
        name=name,
        domains=_domains(settings.domains),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=_uris(settings.post_logout_redirect_uris,
                                        "L'URI après déconnexion", public),
        backchannel_logout_uri=backchannel,
        public=public,
        first_party=bool(settings.first_party),
        allowed_scopes=_scopes(settings.allowed_scopes),
        grant_types=grant_types,
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=_alg(settings.id_token_signed_response_alg,
                                          "l'ID token"),
        userinfo_signed_response_alg=(
            _alg(settings.userinfo_signed_response_alg, "les réponses userinfo")
            if settings.userinfo_signed_response_alg else None
        ),
        jwks=_jwks(settings.jwks, method),
        required_acr=_acr(settings.required_acr),
    )


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def _domains(codes: Iterable[str]) -> tuple[str, ...]:
    domains = _unique(code.upper() for code in codes)
    if not domains:
        raise InvalidClientSettings(
            "Une application doit être enregistrée pour au moins un domaine."
        )
    known = set(db.session.scalars(select(Domain.code).where(Domain.code.in_(domains))))
    unknown = [code for code in domains if code not in known]
    if unknown:
        raise InvalidClientSettings(
            f"Domaine(s) inconnu(s) : {', '.join(unknown)} (voir `idp catalogue list`)"
        )
    return domains


def _acr(level: str | None) -> str | None:
    if not level or not level.strip():
        return None
    if level.strip() not in ACR_VALUES:
        raise InvalidClientSettings(
            f"Niveau d'authentification inconnu : {level} (parmi {', '.join(ACR_VALUES)}).")
    return level.strip()


def _auth_method(method: str | None, public: bool) -> str:
    method = method.strip() if method else None
    if public:
        if method not in (None, PUBLIC_AUTH_METHOD):
            raise InvalidClientSettings(
                f"Un client public n'a ni secret ni clé : sa méthode d'authentification "
                f"est « {PUBLIC_AUTH_METHOD} », pas « {method} »."
            )
        return PUBLIC_AUTH_METHOD
    if method is None:
        return DEFAULT_CONFIDENTIAL_AUTH_METHOD
    if method == PUBLIC_AUTH_METHOD:
        raise InvalidClientSettings(
            f"La méthode d'authentification « {PUBLIC_AUTH_METHOD} » est réservée aux "
            f"clients publics."
        )
    if method not in CONFIDENTIAL_AUTH_METHODS:
        raise InvalidClientSettings(
            f"Méthode d'authentification non prise en charge : « {method} ». "
            f"Choisissez parmi : {', '.join(CONFIDENTIAL_AUTH_METHODS)}."
        )
    return method


def _grant_types(grant_types: Sequence[str] | None, public: bool) -> tuple[str, ...]:
    grants = DEFAULT_GRANT_TYPES if grant_types is None else _unique(grant_types)
    if not grants:
        raise InvalidClientSettings(
            "Une application doit avoir au moins un type d'autorisation."
        )
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown:
        raise InvalidClientSettings(
            f"Type(s) d'autorisation non pris en charge : {', '.join(unknown)}. "
            f"Choisissez parmi : {', '.join(GRANT_TYPES)}."
        )
    if public and CLIENT_CREDENTIALS in grants:
        raise InvalidClientSettings(
            f"Un client public ne peut pas utiliser {CLIENT_CREDENTIALS} "
            f"(il n'a ni secret ni clé)."
        )
    if REFRESH_TOKEN in grants and AUTHORIZATION_CODE not in grants:
        raise InvalidClientSettings(
            f"Le type d'autorisation {REFRESH_TOKEN} ne s'utilise qu'avec "
            f"{AUTHORIZATION_CODE}."
        )
    return grants


def _scopes(scopes: Sequence[str] | None) -> tuple[str, ...]:
    allowed = SCOPES if scopes is None else _unique(scopes)
    if not allowed:
        raise InvalidClientSettings("Une application doit avoir au moins un scope.")
    unknown = [s for s in allowed if s not in SCOPES]
    if unknown:
        raise InvalidClientSettings(
            f"Scope(s) inconnu(s) : {', '.join(unknown)}. "
            f"Choisissez parmi : {', '.join(SCOPES)}."
        )
    return allowed


def _alg(alg: str, what: str) -> str:
    normalised = alg.strip().upper()
    if normalised not in SIGNING_ALGORITHMS:
        raise InvalidClientSettings(
            f"Algorithme de signature non pris en charge pour {what} : « {alg} ». "
            f"Choisissez parmi : {', '.join(SIGNING_ALGORITHMS)}."
        )
    return normalised


def _uris(uris: Iterable[str], what: str, public: bool) -> tuple[str, ...]:
    refused = None if public else (
        "les schémas privés sont réservés aux clients publics (applications natives)"
    )
    return tuple(_uri(uri, what, private_use_refused=refused) for uri in _unique(uris))


def _uri(uri: str, what: str, *, private_use_refused: str | None) -> str:
    """`uri` if it may receive a browser (or the back-channel) from us.

    Exact string matching applies later, so the URI is kept as written. https is the
    rule; plain http only on the loopback interface (RFC 8252 §7.3); a private-use
    scheme in reverse domain notation (RFC 8252 §7.1) unless `private_use_refused`
    says why not.
    """
    uri = uri.strip()
    if any(c.isspace() for c in uri):
        raise InvalidClientSettings(f"{what} {uri!r} ne doit pas contenir d'espace.")
    if "#" in uri:
        raise InvalidClientSettings(f"{what} {uri} ne doit pas contenir de fragment (#).")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise InvalidClientSettings(f"{what} {uri} n'est pas une URI valide.") from None
    scheme = parts.scheme.lower()
    if not scheme or not _SCHEME.fullmatch(scheme):
        raise InvalidClientSettings(f"{what} {uri} doit être une URI absolue.")
    if scheme == "https":
        if not host:
            raise InvalidClientSettings(f"{what} {uri} n'indique aucun hôte.")
    elif scheme == "http":
        if host not in LOOPBACK_HOSTS:
            raise InvalidClientSettings(
                f"{what} {uri} doit utiliser https (http seulement pour 127.0.0.1, [::1] "
                f"ou localhost)."
            )
    elif private_use_refused is not None:
        raise InvalidClientSettings(
            f"{what} {uri} doit utiliser https (ou http sur l'interface de bouclage) : "
            f"{private_use_refused}."
        )
    elif "." not in scheme:
        raise InvalidClientSettings(
            f"{what} {uri} : un schéma privé doit s'écrire en notation de domaine "
            f"inversé, par exemple fr.atih.app:/callback."
        )
    return uri


def _jwks(jwks: dict[str, Any] | None, method: str) -> dict[str, Any] | None:
    """The client's public keys as a JWK Set, for private_key_jwt only."""
    if method != PRIVATE_KEY_JWT:
        if jwks:
            raise InvalidClientSettings(
                f"Un JWK Set ne sert qu'avec {PRIVATE_KEY_JWT} (cette application utilise "
                f"{method})."
            )
        return None
    if not jwks:
        raise InvalidClientSettings(
            f"La méthode {PRIVATE_KEY_JWT} nécessite les clés publiques de "
            f"l'application (un JWK Set)."
        )
    if not isinstance(jwks, dict):
        raise InvalidClientSettings("Le JWK Set doit être un objet JSON.")
    if "kty" in jwks:  # a lone key
        jwks = {"keys": [jwks]}
    members = jwks.get("keys")
    if not isinstance(members, list) or not members:
        raise InvalidClientSettings('Le JWK Set doit contenir une liste "keys" non vide.')
    if not all(isinstance(member, dict) for member in members):
        raise InvalidClientSettings(
            'Les éléments de la liste "keys" du JWK Set doivent être des objets JSON.'
        )
    try:
        keys = KeySet.import_key_set({"keys": members}).keys
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClientSettings(f"JWK Set invalide : {exc}") from None
    if len(keys) != len(members):  # joserfc skips the key types it does not know
        raise InvalidClientSettings(
            "Le JWK Set contient des clés d'un type non pris en charge."
        )
    if any(key.is_private for key in keys):
        raise InvalidClientSettings(
            "Le JWK Set ne doit contenir que des clés publiques (il contient des clés "
            "privées ou symétriques)."
        )
    return {"keys": members}  # as given: the client's kids must match its assertions


# --- helpers --------------------------------------------------------------------------


def settings_of(client: Client) -> ClientSettings:
    return ClientSettings(
        name=client.name,
        domains=tuple(client.domains),
        redirect_uris=tuple(client.redirect_uris),
        post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
        backchannel_logout_uri=client.backchannel_logout_uri,
        public=client.is_public,
        first_party=client.first_party,
        allowed_scopes=tuple(client.allowed_scopes),
        grant_types=tuple(client.grant_types),
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        userinfo_signed_response_alg=client.userinfo_signed_response_alg,
        jwks=client.jwks,
        required_acr=client.required_acr,
    )


def _apply(client: Client, settings: ClientSettings) -> None:
    for field in dataclasses.fields(ClientSettings):
        if field.name == "public":
            continue  # the auth method says it
        value = getattr(settings, field.name)
        setattr(client, field.name, list(value) if isinstance(value, tuple) else value)


def _audit_view(settings: ClientSettings) -> dict[str, Any]:
    """The settings as they go in the audit log: the keys by thumbprint, not in full."""
    view = {f.name: getattr(settings, f.name) for f in dataclasses.fields(ClientSettings)}
    view = {k: list(v) if isinstance(v, tuple) else v for k, v in view.items()}
    view["jwks"] = jwk_thumbprints(settings.jwks)
    return view


def jwk_thumbprints(jwks: dict[str, Any] | None) -> list[str] | None:
    if not jwks:
        return None
    return [key.thumbprint() for key in KeySet.import_key_set(jwks).keys]


def _uses_secret(client: Client) -> bool:
    return client.token_endpoint_auth_method in SECRET_AUTH_METHODS


def _issue_secret(client: Client) -> str:
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = hash_client_secret(secret)
    return secret


def _new_client_id(name: str, requested: str | None) -> str:
    if requested is not None:
        requested = requested.strip()
        if not _CLIENT_ID.fullmatch(requested):
            raise InvalidClientSettings(
                f"L'identifiant client {requested!r} est invalide : il doit comporter de 1 "
                f"à 64 caractères parmi les lettres sans accent, les chiffres, « . », « _ », "
                f"« ~ » et « - », et commencer par une lettre ou un chiffre."
            )
        if requested.isdigit():
            # A client_credentials token's `sub` is its client_id: all digits, it could
            # pass for a person's PLAGE identifier (RFC 9700 §4.15).
            raise InvalidClientSettings(
                f"L'identifiant client {requested!r} est invalide : composé seulement de "
                f"chiffres, il pourrait être pris pour l'identifiant Plage d'une personne.")
        if _client_id_taken(requested):
            raise ClientIdTaken(f"L'identifiant client {requested} est déjà attribué.")
        return requested
    slug = _slug(name)
    while True:
        candidate = f"{slug}-{secrets.token_hex(3)}"
        if not _client_id_taken(candidate):
            return candidate


def _client_id_taken(client_id: str) -> bool:
    return db.session.scalar(
        select(Client.id).where(Client.client_id == client_id)
    ) is not None


def _slug(name: str) -> str:
    """'Tableau de bord ESMS' -> 'tableau-de-bord-esms'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-") or "client"
