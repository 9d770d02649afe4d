"""The home page and the health check: the provider's pages that belong to no domain."""
