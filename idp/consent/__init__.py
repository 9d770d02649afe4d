"""Consent to share claims with a client, and the choice of the profile at login."""
