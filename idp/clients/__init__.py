"""The registry of relying applications (OAuth 2.0 / OpenID Connect clients)."""
