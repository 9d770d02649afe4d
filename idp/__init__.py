"""PLAGE-style OpenID Connect identity provider.

`create_app` is imported lazily: the relying-party kit (`idp.rp`) lives in this package
but must not load the provider when an application imports it.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from idp.app import create_app

        return create_app
    raise AttributeError(f"module 'idp' has no attribute {name!r}")
