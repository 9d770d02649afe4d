"""Historique and Revue des habilitations: what administrators oversee on their entities
(the audit log of their entities, the profiles left unused and those holding an
administrator role), and the national report of the command line."""
