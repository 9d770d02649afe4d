"""Outgoing mail: queued in the outbox (`service.queue`), sent by the outbox's mail
channel through a transport (SMTP, or .eml files in development)."""
