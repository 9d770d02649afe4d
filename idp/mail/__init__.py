"""Outgoing mail: an outbox table in the SQL database and its delivery (file or SMTP)."""
