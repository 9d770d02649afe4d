"""What the directory tells the layers above it, which it may not import.

The OIDC layer subscribes (`on_profile_ended`, in the app factory) so that a profile
deactivated by an administrator loses at once the grants and refresh tokens issued for
it, and its relying applications get a back-channel logout. A handler runs inside the
operation's transaction: what it adds commits, or rolls back, with the change itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from idp.core.audit import Actor

if TYPE_CHECKING:
    from idp.directory.models import Profile

ProfileEnded = Callable[["Profile", Actor], None]

_profile_ended: list[ProfileEnded] = []


def on_profile_ended(handler: ProfileEnded) -> None:
    """Call `handler(profile, actor)` whenever a profile stops being usable (idempotent:
    every app built in a process subscribes the same handler once)."""
    if handler not in _profile_ended:
        _profile_ended.append(handler)


def profile_ended(profile: Profile, actor: Actor) -> None:
    for handler in _profile_ended:
        handler(profile, actor)
