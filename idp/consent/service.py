"""Consent decisions and the last profile chosen per client."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from idp.clients.models import Client
from idp.consent.models import Consent, ProfileChoice
from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.directory.models import Domain
from idp.extensions import db, upsert_insert

# What each scope shares, in the words shown on the consent page.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "profile": "Vos nom, prénom et identifiant Plage",
    "email": "L'adresse électronique de votre profil",
    "phone": "Le numéro de téléphone de votre profil",
    "habilitations": "Le profil choisi : son entité de rattachement (nom, type, FINESS) "
                     "et vos rôles dans les domaines de l'application",
    "offline_access": "L'accès à ces informations lorsque vous n'êtes pas connecté, "
                      "pendant {days} jours au plus ou jusqu'à ce que vous retiriez votre "
                      "accord",
}


def scopes_needing_consent(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - {"openid"})


def covers(account_id: int, client_id: str, scopes: Iterable[str]) -> bool:
    row = db.session.get(Consent, (account_id, client_id))
    return row is not None and set(scopes) <= set(row.scopes)


def give(account_id: int, client_id: str, scopes: Iterable[str], actor: Actor) -> Consent:
    row = db.session.get(Consent, (account_id, client_id))
    if row is None:
        row = Consent(account_id=account_id, client_id=client_id, scopes=[])
        db.session.add(row)
    row.scopes = sorted(set(row.scopes) | set(scopes))
    record(actor, "consent.give", target=row, client=client_id, scopes=row.scopes)
    return row


def withdraw(account_id: int, client_id: str, actor: Actor) -> bool:
    row = db.session.get(Consent, (account_id, client_id))
    if row is None:
        return False
    db.session.delete(row)
    record(actor, "consent.withdraw", client=client_id)
    return True


def applications_of(account_id: int) -> list[tuple[Consent, Client]]:
    """The person's consents with their clients, by application name ("Mes applications")."""
    rows = db.session.execute(
        select(Consent, Client).join(Client, Client.client_id == Consent.client_id)
        .where(Consent.account_id == account_id).order_by(Client.name)
    )
    return [(consent, client) for consent, client in rows]


def describe_scopes(scopes: Iterable[str]) -> list[tuple[str, str]]:
    """Each scope with what it shares, in the words of the consent page (an offline
    access with the lifetime of its refresh tokens' family)."""
    days = current_app.config["IDP"]["oidc"]["refresh_family_max_age"] // 86400
    return [(s, SCOPE_DESCRIPTIONS.get(s, s).format(days=days))
            for s in scopes_needing_consent(scopes)]


def last_profile_choice(account_id: int, client_id: str) -> int | None:
    row = db.session.get(ProfileChoice, (account_id, client_id))
    return row.profile_id if row else None


def remember_profile_choice(account_id: int, client_id: str, profile_id: int) -> None:
    """One statement, whatever was there: two first logins of one person to one client
    at once (two tabs) both succeed; an unchanged choice writes nothing."""
    table = ProfileChoice.__table__
    stmt = upsert_insert(table, db.session()).values(
        account_id=account_id, client_id=client_id, profile_id=profile_id, chosen_at=utcnow())
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.account_id, table.c.client_id],
        set_={"profile_id": stmt.excluded.profile_id, "chosen_at": stmt.excluded.chosen_at},
        where=table.c.profile_id != stmt.excluded.profile_id))


def domain_labels(codes: Iterable[str]) -> list[tuple[str, str]]:
    codes = list(codes)
    labels = {d.code: d.label for d in db.session.scalars(
        select(Domain).where(Domain.code.in_(codes)))}
    return [(code, labels.get(code, code)) for code in codes]
