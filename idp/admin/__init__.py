"""Administration pages (national level: the registry of client applications)."""
