"""Profils › Recherche de profils and Gestion des profils & habilitations: the pages of
an entity's administrators (habilitations, deactivation, the APE role handed over)."""
