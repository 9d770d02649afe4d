"""The OpenID Connect provider, built on Authlib's authorization server."""
