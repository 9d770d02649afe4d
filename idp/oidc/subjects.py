"""The person and profile behind a grant as the token paths see them: whether they may
still use the client, and every claim they could release to it.

Reading them from the directory is the dearest part of a refresh or a userinfo request
(the account, the profile, its entity, habilitations and roles, built into objects).
Each process keeps what it read, under the two counters the database itself moves on at
any change that could alter it (triggers of migration 0012): the account's
`rights_version` and the `directory_epoch`. Both are read with the grant, in its one
SELECT, before anything is read from the directory; so what is kept is never older than
the counters it is filed under, and a change committed anywhere (a page, the CLI, the
importer, an operator's UPDATE) is seen by the very next token request.

What is kept must be committed rows: no request writes to the directory and then asks
for a subject in the same transaction (the login commits, then redirects to the
authorization endpoint), and none may, for a rollback would leave its rows kept under a
version that stays current.

The authorization endpoint keeps, the same way, which of a person's profiles may sign in
to a client: the account read for the request carries its version, the epoch costs one
small SELECT instead of loading every profile with its roles and entity.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import joinedload

from idp.claims import all_claims
from idp.directory import rules, services
from idp.directory.enums import AccountState
from idp.directory.models import Account, Habilitation, Profile
from idp.extensions import db
from idp.oidc.grants_store import GrantRow, Rights

# About 1 KiB each: a few MiB per process at most.
MAX_ENTRIES = 8192


@dataclass(frozen=True)
class Subject:
    """The subject of a token (Authlib's `user`): its grant, the person's identifier and
    every claim the client could be given (read only: shared with other requests)."""

    grant: GrantRow
    identifier: str
    claims: Mapping[str, Any]

    def get_user_id(self) -> str:
        return self.identifier


@dataclass(frozen=True)
class _Kept:
    usable: bool
    identifier: str
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class ProfileIds:
    """`rules.profiles_for_client`'s answer, by profile id."""

    usable: tuple[int, ...]
    conflicted: tuple[int, ...]


class SubjectCache:
    """The last MAX_ENTRIES answers read, each with the counters it was read under."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Rights, Any]] = OrderedDict()
        self._lock = threading.Lock()  # gunicorn's threaded workers share it

    def get(self, key: Hashable, rights: Rights) -> Any | None:
        with self._lock:
            held = self._entries.get(key)
            if held is None or held[0] != rights:
                return None
            self._entries.move_to_end(key)
            return held[1]

    def put(self, key: Hashable, rights: Rights, kept: Any) -> None:
        with self._lock:
            self._entries[key] = (rights, kept)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def install(app: Flask) -> None:
    app.extensions["idp.subjects"] = SubjectCache()


def _kept(key: Hashable, rights: Rights, read: Callable[[], Any]) -> Any:
    cache: SubjectCache = current_app.extensions["idp.subjects"]
    kept = cache.get(key, rights)
    if kept is None:
        kept = read()
        cache.put(key, rights, kept)
    return kept


def subject_for(grant: GrantRow, domains: Iterable[str]) -> Subject | None:
    """The subject of an active grant, while the person may still use it with the
    client registered for `domains`.

    Tokens never outlive the rights they carry: the profile must still pass the rule the
    login applied (`rules.may_use_for_client`: active, a role in the client's domains, no
    two exclusive roles there); otherwise the grant serves no code exchange, no refresh
    and no userinfo, and the person must sign in again and choose another profile.
    """
    domains = frozenset(domains)
    kept: _Kept = _kept(("subject", grant.account_id, grant.profile_id, domains),
                        grant.rights, lambda: _read(grant.account_id, grant.profile_id, domains))
    return Subject(grant, kept.identifier, kept.claims) if kept.usable else None


def profiles_for_client(account: Account, domains: Iterable[str]) -> ProfileIds:
    """Which of the person's profiles may sign in to a client registered for `domains`
    (`services.profiles_for_client`), as read under the account's version (loaded for
    this request) and the directory's epoch (read now)."""
    domains = frozenset(domains)

    def read() -> ProfileIds:
        sorted_out = services.profiles_for_client(account, domains)
        return ProfileIds(usable=tuple(p.id for p in sorted_out.usable),
                          conflicted=tuple(p.id for p in sorted_out.conflicted))

    return _kept(("profiles", account.id, domains),
                 (account.rights_version, services.directory_epoch()), read)


def _read(account_id: int, profile_id: int | None, domains: frozenset[str]) -> _Kept:
    # populate_existing: this request may hold older copies of these rows.
    account = db.session.get(Account, account_id, populate_existing=True)
    profile = None if profile_id is None else db.session.get(
        Profile, profile_id, populate_existing=True, options=[
            joinedload(Profile.entity),
            joinedload(Profile.habilitations).joinedload(Habilitation.role)])
    if account is None or account.state != AccountState.ACTIVE or (
            profile_id is not None and (
                profile is None or not rules.may_use_for_client(profile, domains))):
        return _Kept(usable=False, identifier="", claims={})
    return _Kept(usable=True, identifier=account.identifier,
                 claims=all_claims(account, profile, domains))
