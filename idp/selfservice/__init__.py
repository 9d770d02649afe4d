"""Self-service pages of the account holder (Mon compte)."""
