"""Signing in to the provider: the server-side session, the login page, throttling."""
