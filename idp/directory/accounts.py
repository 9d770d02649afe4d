"""What a person does to his own account (principle 2: he keeps his details up to date):
his personal information, his email address, his profiles' own contact details, the
merge of a second account of his, and the history of it all.

Like `services`, each operation adds its changes and their audit record to the current
session and leaves the commit to the caller.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from idp.core.audit import Actor, AuditEvent, record
from idp.core.errors import RuleViolation
from idp.core.paging import Cursor, Page, keyset_page
from idp.directory import rules
from idp.directory.enums import AccountState, RequestStatus
from idp.directory.models import Account, Profile, ProfileRequest
from idp.directory.services import name_key
from idp.extensions import db


def _blank_to_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def with_address(address: str) -> Select:
    """The active accounts at `address` whatever its case (« Identifiant perdu ? »): the
    lower(email) index answers it."""
    return (select(Account)
            .where(func.lower(Account.email) == address.lower(),
                   Account.state == AccountState.ACTIVE)
            .order_by(Account.identifier))


def personal_data(account: Account) -> dict[str, Any]:
    """What the audit keeps of an account's holder when it changes hands or closes."""
    return {"identifier": account.identifier, "given_name": account.given_name,
            "family_name": account.family_name, "email": account.email,
            "phone": account.phone, "address": account.address}


def update_personal_information(account: Account, *, given_name: str, family_name: str,
                                phone: str | None, address: str | None,
                                actor: Actor) -> dict[str, list[str | None]]:
    """Mes informations personnelles: name, phone, address. The changes, field by field
    ([before, after]), which the audit records too; nothing is recorded if none."""
    given_name, family_name = given_name.strip(), family_name.strip()
    if not given_name or not family_name:
        raise RuleViolation("Le nom et le prénom sont obligatoires.")
    wanted = {"given_name": given_name, "family_name": family_name,
              "phone": _blank_to_none(phone), "address": _blank_to_none(address)}
    changes = {field: [getattr(account, field), value] for field, value in wanted.items()
               if getattr(account, field) != value}
    if changes:
        for field, (_, value) in changes.items():
            setattr(account, field, value)
        account.name_key = name_key(given_name, family_name)
        record(actor, "account.update", target=account, changes=changes)
    return changes


def record_email_change_request(account: Account, new_email: str, actor: Actor) -> None:
    """A link to confirm `new_email` was sent: nothing changes until it is opened."""
    record(actor, "account.email_change_request", target=account, email=new_email)


def change_email(account: Account, new_email: str, actor: Actor) -> str:
    """The account's address becomes `new_email`, proved by a link opened from it (the
    caller checked it); returns the former address, which the caller tells."""
    new_email = new_email.strip()
    rules.check_email_address(new_email)
    former = account.email
    account.email, account.email_verified = new_email, True
    record(actor, "account.email_change", target=account, changes={"email": [former, new_email]})
    return former


def update_profile_contact(profile: Profile, *, label: str, email: str | None,
                           phone: str | None, actor: Actor) -> dict[str, list[str | None]]:
    """A profile's own label, email and phone, edited by its holder (an empty email or
    phone is inherited from the account again)."""
    label = label.strip()
    if not label:
        raise RuleViolation("Le libellé du profil est obligatoire.")
    email = _blank_to_none(email)
    if email is not None:
        rules.check_email_address(email)
    wanted = {"label": label, "email": email, "phone": _blank_to_none(phone)}
    changes = {field: [getattr(profile, field), value] for field, value in wanted.items()
               if getattr(profile, field) != value}
    for field, (_, value) in changes.items():
        setattr(profile, field, value)
    if changes:
        record(actor, "profile.contact", target=profile, entity_id=profile.entity_id,
               account=profile.account.identifier, changes=changes)
    return changes


def merge_accounts(kept: Account, closed: Account, actor: Actor) -> list[Profile]:
    """Regroupement de compte: the profiles (and the pending profile requests) of
    `closed` move to `kept`, each keeping the address and phone it had, and `closed`
    is closed. The caller proved that the person holds both (their passwords), ends
    the closed account's sessions and grants, and commits everything at once."""
    # Locked (PostgreSQL) and read again: of two confirmations at once, one merges.
    db.session.refresh(closed, with_for_update=True)
    rules.check_mergeable(kept, closed)
    moved = list(closed.profiles)
    for profile in moved:
        profile.email = profile.email or (closed.email if closed.email != kept.email else None)
        profile.phone = profile.phone or (closed.phone if closed.phone != kept.phone else None)
        profile.account = kept  # moves it between the two lists (no orphan to delete)
    pending = db.session.scalars(select(ProfileRequest).where(
        ProfileRequest.account_id == closed.id,
        ProfileRequest.status == RequestStatus.PENDING)).all()
    for request in pending:
        request.account_id = kept.id
    closed.state = AccountState.INACTIVE
    db.session.flush()
    details = {"kept": personal_data(kept), "closed": personal_data(closed),
               "profiles": [p.id for p in moved], "requests": [r.id for r in pending]}
    record(actor, "account.merge", target=kept, **details)
    record(actor, "account.close", target=closed, reason="merged", merged_into=kept.identifier,
           **details)
    return moved


def history_of(account: Account, cursor: Cursor, size: int) -> tuple[Page[AuditEvent], int]:
    """Mon historique: the audit records about the account, its profiles and its profile
    requests (whoever acted), and what the person did with no one else concerned (his
    consents, say: an administrator's acts on other people are not his account's
    history), newest first, `size` a page, and how many there are in all."""
    requests = select(ProfileRequest.id).where(ProfileRequest.account_id == account.id)

    def about(kind: str, ids: list[str]) -> ColumnElement[bool]:
        return and_(AuditEvent.target_type == kind, AuditEvent.target_id.in_(ids))

    concerned = or_(
        about("account", [account.identifier]),
        about("profile", [str(p.id) for p in account.profiles]),
        about("profilerequest", [str(r) for r in db.session.scalars(requests)]),
        and_(AuditEvent.actor_id == account.id,
             or_(AuditEvent.target_type.is_(None), AuditEvent.target_type == "consent")),
    )
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(concerned)) or 0
    found = keyset_page(db.session, select(AuditEvent).where(concerned),
                        (AuditEvent.at, AuditEvent.id), cursor, size, descending=True)
    return found, total
