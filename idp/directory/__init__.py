"""The PLAGE directory: entities, accounts, profiles, domains and roles, and the rules
that govern them (`rules`, plain functions that the pages, the CLI and the OIDC layer
all call)."""
