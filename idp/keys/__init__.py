"""Signing keys: generated and rotated by the CLI, private keys encrypted at rest.

Keys live in the SQL database so that every process and host signs with the same active
key and publishes the same JWKS. A rotated-out key stays published until every token it
signed has expired, so relying applications never meet an unknown `kid` mid-flight.
"""
