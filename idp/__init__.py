"""PLAGE-style OpenID Connect identity provider."""

from idp.app import create_app

__all__ = ["create_app"]
