"""The mails of the administrators' pages: the holder of a profile hears of each change an
administrator makes to it (one mail per change), queued in the outbox with the change
(the caller commits, then calls `outbox.send_after_commit()`).

A change someone makes to his own profile (case 2: the APE gives himself a role) is not
mailed to him: he has just seen it on the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idp.directory import rules
from idp.directory.models import Account, Domain, Profile, Role
from idp.mail import service as mail
from idp.web.redirects import public_url


def _tell(profile: Profile, by: Account, template: str, **context: Any) -> None:
    if profile.account_id == by.id:
        return
    mail.queue_template(profile.effective_email, template, name=profile.account.full_name,
                        profile=profile, by=by.full_name, entity=profile.entity.display_name,
                        identifier=profile.account.identifier,
                        account_url=public_url("selfservice.home", profil=profile.id),
                        **context)


def profile_deactivated(profile: Profile, by: Account) -> None:
    _tell(profile, by, "profile_deactivated")


def profile_reactivated(profile: Profile, by: Account) -> None:
    _tell(profile, by, "profile_reactivated",
          roles=[f"{r.domain.label} – {r.label}" for r in rules.profile_roles(profile)])


def roles_granted(profile: Profile, domain: Domain, roles: Sequence[Role], by: Account) -> None:
    """One « Enregistrer » that gave roles: an administrator role has its own mail (the
    Profils menu is his next step), the roles of an application theirs."""
    if not roles:
        return
    if domain.code == rules.ADMINISTRATION:
        _tell(profile, by, "administrator_appointed",
              profiles_url=public_url("profiles.manage"))
    else:
        _tell(profile, by, "roles_granted", domain=domain, roles=[r.label for r in roles])


def ape_handed_over(profile: Profile, by: Account) -> None:
    _tell(profile, by, "ape_handed_over", predecessor=by.full_name,
          profiles_url=public_url("profiles.manage"))
